/// Which variables may still be read after each block's entry. Facts about dead variables are dropped so that
/// paths that differ only in values nobody reads again merge (this is what keeps path-sensitivity affordable).
/// Given a `Relevance`, only the reads it keeps count: a variable only irrelevant code reads is dead too.
struct Liveness {
    private let index: [StorageKey.Root: Int]
    private let words: Int
    private let live: [UInt64]
    /// Variables whose address is taken somewhere: a call or a store through a pointer may change them.
    private(set) var addressTaken: Set<StorageKey.Root> = []

    init(_ cfg: FunctionCFG, relevance: Relevance? = nil) {
        let n = cfg.blocks.count
        var uses = Array(repeating: Set<StorageKey.Root>(), count: n)
        var defs = Array(repeating: Set<StorageKey.Root>(), count: n)
        let successors = Relevance.successors(cfg)
        var taken: Set<StorageKey.Root> = []

        func noteAddresses(_ v: Value) {
            switch v {
            case .addressOf(let k): taken.insert(k.root)
            case .not(let a): noteAddresses(a)
            case .compare(_, let a, let b), .and(let a, let b), .or(let a, let b): noteAddresses(a); noteAddresses(b)
            case .select(let a, let b, let c): noteAddresses(a); noteAddresses(b); noteAddresses(c)
            case .arithmetic(_, let a, let b): noteAddresses(a); noteAddresses(b)
            default: break
            }
        }

        for (i, block) in cfg.blocks.enumerated() {
            var u = Set<StorageKey.Root>(), d = Set<StorageKey.Root>()
            func use(_ roots: [StorageKey]) {
                for k in roots where !d.contains(k.root) { u.insert(k.root) }
            }
            for (e, element) in block.elements.enumerated() {
                switch element {
                case .assign(let target, let value, _):
                    noteAddresses(value)
                    let counts = relevance.map { r in target.map { r.roots.contains($0.root) } ?? false } ?? true
                    if counts { use(value.keysRead) }
                    if let target {
                        if target.path.isEmpty { d.insert(target.root) } else if counts { use([target]) }
                    }
                case .call(let site):
                    let counts = relevance?.call[i][e] ?? true
                    for a in site.operands {
                        if counts { use(a.value.keysRead) }
                        noteAddresses(a.value)
                        if counts, let s = a.storage { use([s]) }
                    }
                    if counts, let p = site.probeResult { use([p]) }
                    if let r = site.result { d.insert(r.root) }
                case .declare(let k):
                    d.insert(k.root)
                case .pythonDereference:
                    break
                }
            }
            switch block.terminator {
            case .jump: break
            case .branch(let v, _, _, _, _), .switchOn(let v, _, _, _, _):
                if relevance?.branch[i] ?? true { use(v.keysRead) }
            case .exit(let v, _, _): if let v, relevance?.exits ?? true { use(v.keysRead) }
            case .stop, .raise: break
            }
            uses[i] = u
            defs[i] = d
        }
        // Backward worklist over dense bit sets: large generated functions (a Cython module's init) have
        // thousands of blocks and temporaries, where sets of roots rescanned to a fixpoint are slow.
        var index: [StorageKey.Root: Int] = [:]
        for i in 0..<n {
            for r in uses[i] where index[r] == nil { index[r] = index.count }
            for r in defs[i] where index[r] == nil { index[r] = index.count }
        }
        let words = max(1, (index.count + 63) / 64)
        func bits(_ roots: Set<StorageKey.Root>) -> [UInt64] {
            var b = [UInt64](repeating: 0, count: words)
            for r in roots { let k = index[r]!; b[k >> 6] |= 1 << UInt64(k & 63) }
            return b
        }
        let useBits = uses.map(bits), defBits = defs.map(bits)
        var predecessors = Array(repeating: [Int](), count: n)
        for i in 0..<n { for s in successors[i] { predecessors[s].append(i) } }
        var live = [UInt64](repeating: 0, count: n * words)
        var queued = [Bool](repeating: true, count: n)
        var worklist = Array(0..<n)
        var out = [UInt64](repeating: 0, count: words)
        while let i = worklist.popLast() {
            queued[i] = false
            for w in 0..<words { out[w] = 0 }
            for s in successors[i] { for w in 0..<words { out[w] |= live[s * words + w] } }
            var changed = false
            for w in 0..<words {
                let newIn = useBits[i][w] | (out[w] & ~defBits[i][w])
                if newIn != live[i * words + w] { live[i * words + w] = newIn; changed = true }
            }
            if changed {
                for p in predecessors[i] where !queued[p] { queued[p] = true; worklist.append(p) }
            }
        }
        self.index = index
        self.words = words
        self.live = live
        addressTaken = taken
    }

    /// Whether `root` may be read on some path from the entry of `block`.
    func isLive(_ root: StorageKey.Root, atEntryOf block: Int) -> Bool {
        guard let k = index[root] else { return false }
        return live[block * words + k >> 6] & (1 << UInt64(k & 63)) != 0
    }
}
