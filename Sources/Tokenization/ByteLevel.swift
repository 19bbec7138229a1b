// The GPT-2 byte-level alphabet: every byte 0...255 is shown as one printable
// Unicode scalar, so that byte-level BPE vocabularies can be stored as strings.
//
// Rule (GPT-2 `bytes_to_unicode`): the bytes '!'...'~' (33...126), '¡'...'¬'
// (161...172) and '®'...'ÿ' (174...255) stand for themselves; the remaining 68
// bytes (0...32, 127...160, 173), taken in increasing order, get U+0100, U+0101, ...
// So the space 0x20 is U+0120 'Ġ' and the newline 0x0A is U+010A 'Ċ'.

enum ByteLevel {
    /// `scalarOfByte[b]` is the scalar that stands for byte `b`.
    static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarOfByte`.
    static let byteOfScalar: [UInt32: UInt8] = {
        var d: [UInt32: UInt8] = [:]
        for b in 0..<256 { d[scalarOfByte[b].value] = UInt8(b) }
        return d
    }()

    /// The vocabulary string of a byte sequence (each byte → its scalar).
    static func string(ofBytes bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarOfByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a vocabulary string stands for. A scalar outside the byte alphabet
    /// (e.g. in a special token such as `<|im_start|>`, whose characters are all in
    /// the alphabet anyway, or in an added token) contributes its own UTF-8 bytes.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for u in token.unicodeScalars {
            if let b = byteOfScalar[u.value] { out.append(b) } else { out.append(contentsOf: String(u).utf8) }
        }
        return out
    }
}
