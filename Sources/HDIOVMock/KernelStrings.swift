#if canImport(Glibc)
import Glibc
#endif

/// How the kernel reads the bytes of a sysfs write: `kstrtoull`/`kstrtouint` with base 0
/// (lib/kstrtox.c; the mdev core's `remove`), the module's decimal numbers and
/// `guid_parse` (lib/uuid.c), errno for errno.
enum KernelStrings {
    /// `kstrtoull(buf, 0, &v)`: an optional `+`, then `0x…` hex, `0…` octal or decimal,
    /// then at most one newline. ERANGE on overflow (checked before trailing garbage, as
    /// the kernel does), EINVAL when there are no digits or anything else follows.
    static func kstrtoull(_ bytes: [UInt8]) -> Result<UInt64, SysfsErrno> {
        var s = bytes.prefix { $0 != 0 }[...]  // the store sees a NUL-terminated buffer
        if s.first == UInt8(ascii: "+") { s = s.dropFirst() }
        var base: UInt64 = 10
        if s.first == UInt8(ascii: "0") {
            let a = s.dropFirst()
            if let x = a.first, x | 0x20 == UInt8(ascii: "x"), let d = a.dropFirst().first, isHexDigit(d) {
                base = 16
                s = s.dropFirst(2)
            } else {
                base = 8
            }
        }
        var value: UInt64 = 0
        var digits = 0
        var overflow = false
        for c in s {
            let lc = c | 0x20
            let v: UInt64
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                v = UInt64(c - UInt8(ascii: "0"))
            } else if lc >= UInt8(ascii: "a") && lc <= UInt8(ascii: "f") {
                v = UInt64(lc - UInt8(ascii: "a") + 10)
            } else {
                break
            }
            if v >= base { break }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (r, o2) = m.addingReportingOverflow(v)
            if o1 || o2 { overflow = true }
            value = r
            digits += 1
        }
        if overflow { return .failure(SysfsErrno(ERANGE)) }
        if digits == 0 { return .failure(SysfsErrno(EINVAL)) }
        var rest = s.dropFirst(digits)
        if rest.first == UInt8(ascii: "\n") { rest = rest.dropFirst() }
        if !rest.isEmpty { return .failure(SysfsErrno(EINVAL)) }
        return .success(value)
    }

    /// `kstrtouint(buf, 0, &v)`: `kstrtoull`, and ERANGE above UINT_MAX.
    static func kstrtouint(_ bytes: [UInt8]) -> Result<UInt32, SysfsErrno> {
        kstrtoull(bytes).flatMap { v in
            v > UInt64(UInt32.max) ? .failure(SysfsErrno(ERANGE)) : .success(UInt32(v))
        }
    }

    /// `hdiov_parse_decimal` (kmod/vdev.c), the module's own sysfs numbers (contract
    /// section 8): decimal digits with no sign, base prefix or leading zero, then at most
    /// one newline; a value past UINT_MAX and anything else are EINVAL.
    static func decimal(_ bytes: [UInt8]) -> Result<UInt32, SysfsErrno> {
        let s = bytes.prefix { $0 != 0 }  // the store sees a NUL-terminated buffer
        let digits = s.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty, digits.first != UInt8(ascii: "0") || digits.count == 1 else {
            return .failure(SysfsErrno(EINVAL))
        }
        var rest = s.dropFirst(digits.count)
        if rest.first == UInt8(ascii: "\n") { rest = rest.dropFirst() }
        guard rest.isEmpty else { return .failure(SysfsErrno(EINVAL)) }
        var value: UInt32 = 0
        for c in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(UInt32(c - UInt8(ascii: "0")))
            if o1 || o2 { return .failure(SysfsErrno(EINVAL)) }
            value = r
        }
        return .success(value)
    }

    /// `create_store` + `guid_parse`: the write must be 36 or 37 bytes (a UUID and its
    /// newline) and its first 36 a UUID; the name the device gets is lowercase.
    static func createUUID(_ bytes: [UInt8]) -> Result<String, SysfsErrno> {
        guard bytes.count >= 36, bytes.count <= 37 else { return .failure(SysfsErrno(EINVAL)) }
        let head = Array(bytes.prefix(36))
        for (i, c) in head.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return .failure(SysfsErrno(EINVAL)) }
            } else {
                guard isHexDigit(c) else { return .failure(SysfsErrno(EINVAL)) }
            }
        }
        return .success(String(decoding: head, as: UTF8.self).lowercased())
    }

    static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66)
    }
}

/// An errno as an Error, for `Result`.
struct SysfsErrno: Error, Equatable {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}
