/// Which reads of a function can change what the GIL rules see (a slice, computed before the paths are walked).
///
/// Path-sensitivity pays for itself where a branch decides something the rules look at: a save on one arm and
/// the matching restore under the same test later, a blocking call in the child of a `fork()`. A generated
/// function (Cython) also tests hundreds of temporaries for NULL on its way to a shared error label, and
/// tracking every one of those facts gives each combination a state of its own until the budget runs out. Here
/// a branch counts only when something relevant happens between it and the point where its arms meet again
/// (its immediate postdominator), and a variable counts only when a relevant call, branch, exit or relevant
/// variable reads it. Facts about the other variables are dropped like facts about dead ones: paths that
/// differ only in them meet.
///
/// What is relevant is given by `isRelevantCall`; Python API calls and dereferences are relevant only when the
/// GIL can change in the function or is released on entry (otherwise every path reaches them in the same
/// state, and which paths exist cannot change a finding).
struct Relevance {
    /// Per block: whether its terminator's condition is read (a branch or switch whose arms differ in something
    /// relevant).
    private(set) var branch: [Bool]
    /// Per block and element: whether the call's arguments are read.
    private(set) var call: [[Bool]]
    /// Variables whose values matter (their reads in assignments to relevant variables are read too).
    private(set) var roots: Set<StorageKey.Root> = []
    /// Whether return values are read (a function that changes the GIL gives which values go with its effect).
    let exits: Bool

    init(_ cfg: FunctionCFG, exits: Bool, isRelevantCall: (CallSite) -> Bool, dereferences: Bool) {
        let n = cfg.blocks.count
        self.exits = exits
        branch = Array(repeating: false, count: n)
        call = cfg.blocks.map { Array(repeating: false, count: $0.elements.count) }
        var relevantBlock = Array(repeating: false, count: n)
        var roots = Set<StorageKey.Root>()
        func read(_ v: Value) { for k in v.keysRead { roots.insert(k.root) } }

        for (b, block) in cfg.blocks.enumerated() {
            for (e, element) in block.elements.enumerated() {
                switch element {
                case .call(let site) where isRelevantCall(site):
                    call[b][e] = true
                    relevantBlock[b] = true
                    for a in site.operands {
                        read(a.value)
                        if let s = a.storage { roots.insert(s.root) }
                        if let s = a.addressOf { roots.insert(s.root) }
                    }
                    if let p = site.probeResult { roots.insert(p.root) }
                case .pythonDereference where dereferences:
                    relevantBlock[b] = true
                default:
                    break
                }
            }
            switch block.terminator {
            case .exit(let v, _, _) where exits:
                relevantBlock[b] = true
                if let v { read(v) }
            case .raise:
                relevantBlock[b] = true
            default:
                break
            }
        }

        let successors = Relevance.successors(cfg)
        let ipdom = Relevance.immediatePostdominators(successors)
        var mark = Array(repeating: 0, count: n)   // region walks: a block is visited when mark == the walk's id
        var walk = 0
        /// Whether a relevant block lies between `b` and the place its arms meet again.
        func regionIsRelevant(_ b: Int) -> Bool {
            walk += 1
            let stop = ipdom[b]
            var stack = successors[b].filter { $0 != stop }
            for s in stack { mark[s] = walk }
            while let x = stack.popLast() {
                if relevantBlock[x] { return true }
                for s in successors[x] where s != stop && mark[s] != walk {
                    mark[s] = walk
                    stack.append(s)
                }
            }
            return false
        }

        var changed = true
        while changed {
            changed = false
            // Assignments to relevant variables: their blocks are relevant, what they read is relevant.
            for (b, block) in cfg.blocks.enumerated() {
                for element in block.elements {
                    switch element {
                    case .assign(let target?, let value, _) where roots.contains(target.root):
                        let before = roots.count
                        read(value)
                        if roots.count != before { changed = true }
                        if !relevantBlock[b] { relevantBlock[b] = true; changed = true }
                    case .declare(let k) where roots.contains(k.root):
                        if !relevantBlock[b] { relevantBlock[b] = true; changed = true }
                    case .call(let site):
                        // A relevant variable a call may write (`&state`, the result) makes the block relevant.
                        let writes = (site.result.map { [$0.root] } ?? []) + site.operands.compactMap { $0.addressOf?.root }
                        if !relevantBlock[b], writes.contains(where: roots.contains) { relevantBlock[b] = true; changed = true }
                    default:
                        break
                    }
                }
            }
            for (b, block) in cfg.blocks.enumerated() where !branch[b] {
                let condition: Value
                switch block.terminator {
                case .branch(let v, _, _, _, _): condition = v
                case .switchOn(let v, _, _, _, _): condition = v
                default: continue
                }
                guard regionIsRelevant(b) else { continue }
                branch[b] = true
                read(condition)
                changed = true
            }
        }
        self.roots = roots
    }

    /// Successors, with the handler blocks C++ calls unwind to.
    static func successors(_ cfg: FunctionCFG) -> [[Int]] {
        cfg.blocks.map { block in
            var out: [Int]
            switch block.terminator {
            case .jump(let t): out = [t]
            case .branch(_, let t, let f, _, _): out = t == f ? [t] : [t, f]
            case .switchOn(_, let cases, let def, _, _): out = Array(Set(cases.map(\.target) + [def])).sorted()
            case .exit, .stop, .raise: out = []
            }
            for element in block.elements {
                if case .call(let site) = element, site.mayThrow, let u = site.unwind, !out.contains(u) { out.append(u) }
            }
            return out
        }
    }

    /// The immediate postdominator of each block, or -1 (the function's exit) when none: blocks that leave
    /// the function, and blocks from which no exit is reachable (an endless loop), lead to a virtual exit.
    static func immediatePostdominators(_ successors: [[Int]]) -> [Int] {
        let n = successors.count
        let exit = n
        var preds = Array(repeating: [Int](), count: n + 1)   // predecessors in the reverse graph = successors
        var rsucc = Array(repeating: [Int](), count: n + 1)   // successors in the reverse graph = predecessors
        for b in 0..<n {
            let succ = successors[b].isEmpty ? [exit] : successors[b]
            preds[b] = succ
            for s in succ { rsucc[s].append(b) }
        }
        // Blocks the exit cannot be reached from get an edge to it, so that every block has a postdominator.
        var reaches = Array(repeating: false, count: n + 1)
        func sweep() {
            var stack = [exit]
            reaches[exit] = true
            while let x = stack.popLast() {
                for p in rsucc[x] where !reaches[p] { reaches[p] = true; stack.append(p) }
            }
        }
        sweep()
        for b in 0..<n where !reaches[b] {
            preds[b].append(exit)
            rsucc[exit].append(b)
        }
        // Reverse postorder of the reverse graph from the exit.
        var order: [Int] = []
        var seen = Array(repeating: false, count: n + 1)
        var stack: [(Int, Int)] = [(exit, 0)]
        seen[exit] = true
        while let (x, i) = stack.last {
            if i < rsucc[x].count {
                stack[stack.count - 1].1 += 1
                let y = rsucc[x][i]
                if !seen[y] { seen[y] = true; stack.append((y, 0)) }
            } else {
                order.append(x)
                stack.removeLast()
            }
        }
        order.reverse()
        var rank = Array(repeating: Int.max, count: n + 1)
        for (k, x) in order.enumerated() { rank[x] = k }
        var idom = Array(repeating: -1, count: n + 1)
        idom[exit] = exit
        func intersect(_ a: Int, _ b: Int) -> Int {
            var a = a, b = b
            while a != b {
                while rank[a] > rank[b] { a = idom[a] }
                while rank[b] > rank[a] { b = idom[b] }
            }
            return a
        }
        var changed = true
        while changed {
            changed = false
            for x in order where x != exit {
                var new = -1
                for p in preds[x] where idom[p] != -1 {
                    new = new == -1 ? p : intersect(p, new)
                }
                if new != -1, idom[x] != new { idom[x] = new; changed = true }
            }
        }
        return (0..<n).map { idom[$0] == exit ? -1 : idom[$0] }
    }
}
