/// Which variables may still be read after each block's entry. Facts about dead variables are dropped so that
/// paths that differ only in values nobody reads again merge (this is what keeps path-sensitivity affordable).
struct Liveness {
    private(set) var liveIn: [Set<StorageKey.Root>]
    /// Variables whose address is taken somewhere: a call or a store through a pointer may change them.
    private(set) var addressTaken: Set<StorageKey.Root> = []

    init(_ cfg: FunctionCFG) {
        let n = cfg.blocks.count
        var uses = Array(repeating: Set<StorageKey.Root>(), count: n)
        var defs = Array(repeating: Set<StorageKey.Root>(), count: n)
        var successors = Array(repeating: [Int](), count: n)
        var taken: Set<StorageKey.Root> = []

        func noteAddresses(_ v: Value) {
            switch v {
            case .addressOf(let k): taken.insert(k.root)
            case .not(let a): noteAddresses(a)
            case .compare(_, let a, let b), .and(let a, let b), .or(let a, let b): noteAddresses(a); noteAddresses(b)
            case .select(let a, let b, let c): noteAddresses(a); noteAddresses(b); noteAddresses(c)
            default: break
            }
        }

        for (i, block) in cfg.blocks.enumerated() {
            var u = Set<StorageKey.Root>(), d = Set<StorageKey.Root>()
            func use(_ roots: [StorageKey]) {
                for k in roots where !d.contains(k.root) { u.insert(k.root) }
            }
            for element in block.elements {
                switch element {
                case .assign(let target, let value, _):
                    use(value.keysRead)
                    noteAddresses(value)
                    if let target {
                        if target.path.isEmpty { d.insert(target.root) } else { use([target]) }
                    }
                case .call(let site):
                    for a in site.arguments {
                        use(a.value.keysRead)
                        noteAddresses(a.value)
                        if let s = a.storage { use([s]) }
                    }
                    if let r = site.result { d.insert(r.root) }
                case .declare(let k):
                    d.insert(k.root)
                case .pythonDereference:
                    break
                }
            }
            switch block.terminator {
            case .jump(let t): successors[i] = [t]
            case .branch(let v, let t, let f, _, _): use(v.keysRead); successors[i] = [t, f]
            case .switchOn(let v, let cases, let def, _, _):
                use(v.keysRead); successors[i] = cases.map(\.target) + [def]
            case .exit(let v, _, _): if let v { use(v.keysRead) }
            case .stop: break
            }
            uses[i] = u
            defs[i] = d
        }
        var live = Array(repeating: Set<StorageKey.Root>(), count: n)
        var changed = true
        while changed {
            changed = false
            for i in stride(from: n - 1, through: 0, by: -1) {
                var out = Set<StorageKey.Root>()
                for s in successors[i] { out.formUnion(live[s]) }
                let newIn = uses[i].union(out.subtracting(defs[i]))
                if newIn != live[i] {
                    live[i] = newIn
                    changed = true
                }
            }
        }
        liveIn = live
        addressTaken = taken
    }
}
