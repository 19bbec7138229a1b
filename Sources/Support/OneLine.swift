/// `s` made safe to print as one line of an error message: control characters (line breaks,
/// tabs, NUL, escape sequences, U+0085/U+2028/U+2029) are shown as `\u{…}` escapes and a
/// message longer than `maxCharacters` is cut with "…". Errors that quote names or values
/// read from a file use it, so a hostile file cannot forge extra output lines or flood
/// the terminal.
public func oneLine(_ s: String, maxCharacters: Int = 1000) -> String {
    var out = ""
    var n = 0
    for u in s.unicodeScalars {
        if n >= maxCharacters { out += "…"; break }
        switch u.value {
        case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
            out += "\\u{" + String(u.value, radix: 16) + "}"
        default:
            out.unicodeScalars.append(u)
        }
        n += 1
    }
    return out
}
