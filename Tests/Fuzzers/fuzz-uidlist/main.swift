// Bounded fuzzer for the uid list parser (a folder's postamt-uidlist, which its user can write):
// no input traps it, and what it accepts it writes back as a file that reads as the same list.
// The same for the list's binary image (postamt-uidlist.index, also the user's): every accepted
// list's image reads as that list, and an image with one byte changed either is refused or reads
// as a list the text parser accepts as it is (the image's checks are the parser's).
#if canImport(Glibc)
import Glibc
#endif
import Maildir
import TestSupport

let words = ["postamt-uidlist 1 V1764441600 N10 M9\n", "postamt-uidlist 1 V1 N4294967295 M18446744073709551615",
             "1 M1 FS :1764441600.M1P7Q1.host,S=812\n", "2 M2 F :a\n", "3 M3 FDRST :b.c\n", "9 M9 Fab :x\n",
             "+4 M5 FS :d\n", "-2 M6\n", "-3\n", "=N11 M10\n", "=N12 M11 R5 E6 C1.2,3.4\n", "X1:3 M2\n", "X5 M4\n",
             " R3", " E2", " C1764441600.5,1764441601.6", " M", " F", " :", ":", "\n", "0", "18446744073709551616",
             "99999999999999999999", "4294967296", String(repeating: "n", count: 23), ":2,S"]
let header = Array("postamt-uidlist 1 V1764441600 N1000 M1000\n".utf8)

/// A well-formed list made from the input's bytes (entries with ascending UIDs, names from its
/// bytes, then a batch), with one byte of it overwritten: inputs next to valid ones, where a
/// parser's edge cases are.
func nearlyValid(_ raw: [UInt8]) -> [UInt8] {
    var text = header
    var uid = 0
    var chunks = raw.split(whereSeparator: { $0 == 0x0A || $0 == 0x3A || $0 == 0x0D }).prefix(40)
    if chunks.isEmpty { chunks = [[0x61]] }
    for chunk in chunks {
        uid += 1 + Int(chunk.first ?? 0) % 3
        text += Array("\(uid) M\(uid) F\(chunk.count % 2 == 0 ? "S" : "RS") :".utf8) + chunk + [0x0A]
    }
    text += Array("+\(uid + 1) M1001 FT :new\n-1 M1001\n=N1001 M1001\n".utf8)
    if raw.count > 2 {
        let at = (Int(raw[1]) << 8 | Int(raw[2])) % text.count
        text[at] = raw[raw.count - 1]
    }
    return text
}

FuzzDriver.run(name: "fuzz-uidlist", dictionary: words.map { Array($0.utf8) }) { raw in
    let input: [UInt8]
    switch raw.first.map({ $0 % 3 }) {
    case 0: input = header + raw.dropFirst()
    case 1: input = nearlyValid(Array(raw.dropFirst()))
    default: input = raw
    }
    guard let (file, layout) = UIDListFile.parseWithLayout(input) else { return 0 }
    // Every accepted list is written back as a whole file that reads as the same list.
    let again = UIDListFile.parse(file.encoded())
    precondition(again == file, "a parsed uid list does not survive being written and read again")
    var st = stat()
    st.st_size = input.count
    var image = UIDListIndex.encode(file, layout: layout, identity: FileIdentity(st))
    guard let decoded = UIDListIndex.decode(image, identity: nil) else { preconditionFailure("an image of a parsed list is refused") }
    precondition(decoded.file == file && decoded.layout == layout, "an image does not read as the list it was made of")
    // An image of the list's base, with the batches after it applied from the text, reads
    // as the whole list (as a reader takes an image of a list that has grown since).
    let baseEnd = layout.validLength - layout.changeBytes
    if baseEnd < input.count, let base = UIDListFile.parseWithLayout(Array(input[..<baseEnd])) {
        var baseSt = stat()
        baseSt.st_size = baseEnd
        let baseImage = UIDListIndex.encode(base.file, layout: base.layout, identity: FileIdentity(baseSt))
        guard let decodedBase = UIDListIndex.decode(baseImage, identity: nil),
              let whole = UIDListFile.applying(tail: Array(input[baseEnd...]), to: decodedBase.file, layout: decodedBase.layout) else {
            preconditionFailure("the batches of an accepted list do not apply to an image of its base")
        }
        precondition(whole.file == file && whole.layout == layout, "an image of the base with the batches applied is not the list")
    }
    if raw.count > 3 {
        image[(Int(raw[1]) << 8 | Int(raw[3])) % image.count] = raw[2]
        if let changed = UIDListIndex.decode(image, identity: nil) {
            precondition(UIDListFile.parse(changed.file.encoded()) == changed.file, "a damaged image reads as a list the parser refuses")
        }
    }
    var names = 0
    for entry in file.entries { names &+= entry.baseName.utf8.count }
    return 1 + file.entries.count + names
}
