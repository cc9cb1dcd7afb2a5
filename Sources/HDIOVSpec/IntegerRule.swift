/// What an integer key accepts, and how to say so: "must be an integer from 1 to 64".
struct IntegerRule {
    var range: ClosedRange<Int>
    /// Completes "must be …".
    var text: String
    var powerOfTwo = false
    /// Shown in messages: decimal, or `0x…` for PCI ids.
    var hex = false
    /// A hint for a value that is a number but not allowed.
    var hint: (Int) -> String? = { _ in nil }

    /// "an integer from 1 to 64", "an integer from 0 to 0xffff",
    /// "an integer from 1 to 16777216 (16 MiB)".
    static func from(_ range: ClosedRange<Int>, hex: Bool = false, note: String? = nil) -> IntegerRule {
        let text = "an integer from \(format(range.lowerBound, hex: hex)) to \(format(range.upperBound, hex: hex))"
            + (note.map { " (\($0))" } ?? "")
        return IntegerRule(range: range, text: text, hex: hex)
    }

    /// A power of two within `range`, with the neighbouring powers as the hint.
    static func powerOfTwo(_ range: ClosedRange<Int>) -> IntegerRule {
        IntegerRule(range: range, text: "a power of two from \(range.lowerBound) to \(range.upperBound)",
                    powerOfTwo: true) { value in
            guard range.contains(value) else { return nil }
            let below = 1 << (Int.bitWidth - 1 - value.leadingZeroBitCount)
            return "the nearest powers of two are \(below) and \(below * 2)"
        }
    }

    func allows(_ value: Int) -> Bool {
        range.contains(value) && (!powerOfTwo || value & (value - 1) == 0)
    }

    func format(_ value: Int) -> String { Self.format(value, hex: hex) }

    static func format(_ value: Int, hex: Bool) -> String {
        hex && value != 0 ? "0x" + String(value, radix: 16) : String(value)
    }
}
