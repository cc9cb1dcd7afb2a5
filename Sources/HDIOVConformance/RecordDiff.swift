/// A unified diff of two records (line based, longest common subsequence), for showing
/// where the module and the mock (or the golden record) part ways.
public enum RecordDiff {
    /// nil when the texts are equal; else `--- a` / `+++ b` and hunks with `context` lines.
    public static func unified(_ a: String, _ b: String, labelA: String = "expected", labelB: String = "actual",
                               context: Int = 3) -> String? {
        if a == b { return nil }
        let x = a.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let y = b.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Trim the common head and tail so the table stays small.
        var head = 0
        while head < x.count, head < y.count, x[head] == y[head] { head += 1 }
        var tail = 0
        while tail < x.count - head, tail < y.count - head, x[x.count - 1 - tail] == y[y.count - 1 - tail] { tail += 1 }
        let xs = Array(x[head..<(x.count - tail)]), ys = Array(y[head..<(y.count - tail)])
        let n = xs.count, m = ys.count
        var lcs = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = xs[i] == ys[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        // Edit script over the whole texts: (kind, line, index in a, index in b).
        var ops: [(Character, String)] = x[0..<head].map { (" ", $0) }
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, xs[i] == ys[j] { ops.append((" ", xs[i])); i += 1; j += 1 }
            else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] { ops.append(("+", ys[j])); j += 1 }
            else { ops.append(("-", xs[i])); i += 1 }
        }
        ops += x[(x.count - tail)...].map { (" ", $0) }
        // Hunks.
        var out = ["--- \(labelA)", "+++ \(labelB)"]
        var k = 0
        var lineA = 1, lineB = 1
        var positions: [(Int, Int)] = []
        for op in ops {
            positions.append((lineA, lineB))
            if op.0 != "+" { lineA += 1 }
            if op.0 != "-" { lineB += 1 }
        }
        while k < ops.count {
            guard let next = ops[k...].firstIndex(where: { $0.0 != " " }) else { break }
            let start = max(k, next - context)
            var end = next
            var lastChange = next
            while end < ops.count {
                if ops[end].0 != " " { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            end = min(ops.count, lastChange + context + 1)
            let slice = ops[start..<end]
            let countA = slice.filter { $0.0 != "+" }.count, countB = slice.filter { $0.0 != "-" }.count
            out.append("@@ -\(positions[start].0),\(countA) +\(positions[start].1),\(countB) @@")
            out += slice.map { String($0.0) + $0.1 }
            k = end
        }
        return out.joined(separator: "\n")
    }
}
