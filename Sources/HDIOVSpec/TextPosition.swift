/// Line and column arithmetic on spec text, counted the way libyaml counts: lines are
/// broken by CR, LF, CR LF, NEL, LS and PS; columns are Unicode scalars; both 1-based.
enum TextPosition {
    /// Index into `scalars` of the position `line`:`column`, or nil when there is none.
    static func scalarIndex(line: Int, column: Int, in scalars: [Unicode.Scalar]) -> Int? {
        var currentLine = 1
        var i = 0
        while currentLine < line {
            guard i < scalars.count else { return nil }
            if let next = afterBreak(at: i, in: scalars) {
                i = next
                currentLine += 1
            } else {
                i += 1
            }
        }
        let index = i + column - 1
        guard column >= 1, index <= scalars.count else { return nil }
        // The column must not run past the end of the line.
        for j in i..<index where isBreak(scalars[j]) { return nil }
        return index
    }

    /// The position of a Character offset (what Yams reports for reader errors).
    static func position(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        let end = text.index(text.startIndex, offsetBy: offset, limitedBy: text.endIndex) ?? text.endIndex
        return endPosition(of: Array(text[..<end].unicodeScalars))
    }

    /// The position just after `scalars`.
    static func endPosition(of scalars: [Unicode.Scalar]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var i = 0
        while i < scalars.count {
            if let next = afterBreak(at: i, in: scalars) {
                line += 1
                column = 1
                i = next
            } else {
                column += 1
                i += 1
            }
        }
        return (line, column)
    }

    private static func isBreak(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": true
        default: false
        }
    }

    /// If a line break starts at `i`, the index just after it.
    private static func afterBreak(at i: Int, in scalars: [Unicode.Scalar]) -> Int? {
        guard isBreak(scalars[i]) else { return nil }
        if scalars[i] == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { return i + 2 }
        return i + 1
    }
}
