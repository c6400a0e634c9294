/// The pickle opcodes of protocols 0–5, by byte, as CPython's `Lib/pickletools.py` lists them.
enum PickleOpcode: UInt8 {
    case mark = 0x28  // (
    case emptyTuple = 0x29  // )
    case stop = 0x2e  // .
    case pop = 0x30  // 0
    case popMark = 0x31  // 1
    case dup = 0x32  // 2
    case binbytes = 0x42  // B
    case shortBinbytes = 0x43  // C
    case float = 0x46  // F
    case binfloat = 0x47  // G
    case int = 0x49  // I
    case binint = 0x4a  // J
    case binint1 = 0x4b  // K
    case long = 0x4c  // L
    case binint2 = 0x4d  // M
    case none = 0x4e  // N
    case persid = 0x50  // P
    case binpersid = 0x51  // Q
    case reduce = 0x52  // R
    case string = 0x53  // S
    case binstring = 0x54  // T
    case shortBinstring = 0x55  // U
    case unicode = 0x56  // V
    case binunicode = 0x58  // X
    case emptyList = 0x5d  // ]
    case append = 0x61  // a
    case build = 0x62  // b
    case global = 0x63  // c
    case dict = 0x64  // d
    case appends = 0x65  // e
    case get = 0x67  // g
    case binget = 0x68  // h
    case inst = 0x69  // i
    case longBinget = 0x6a  // j
    case list = 0x6c  // l
    case obj = 0x6f  // o
    case put = 0x70  // p
    case binput = 0x71  // q
    case longBinput = 0x72  // r
    case setitem = 0x73  // s
    case tuple = 0x74  // t
    case setitems = 0x75  // u
    case emptyDict = 0x7d  // }
    case proto = 0x80
    case newobj = 0x81
    case ext1 = 0x82
    case ext2 = 0x83
    case ext4 = 0x84
    case tuple1 = 0x85
    case tuple2 = 0x86
    case tuple3 = 0x87
    case newtrue = 0x88
    case newfalse = 0x89
    case long1 = 0x8a
    case long4 = 0x8b
    case shortBinunicode = 0x8c
    case binunicode8 = 0x8d
    case binbytes8 = 0x8e
    case emptySet = 0x8f
    case additems = 0x90
    case frozenset = 0x91
    case newobjEx = 0x92
    case stackGlobal = 0x93
    case memoize = 0x94
    case frame = 0x95
    case bytearray8 = 0x96
    case nextBuffer = 0x97
    case readonlyBuffer = 0x98

    /// How the argument that follows the opcode byte is laid out.
    enum Argument {
        case none
        /// A little-endian integer of this many bytes (a float for BINFLOAT).
        case fixed(Int)
        /// Text up to a newline.
        case line
        /// Two newline-terminated lines (module and name).
        case twoLines
        /// A little-endian length of `width` bytes, then that many bytes.
        case counted(width: Int, signed: Bool)
    }

    var argument: Argument {
        switch self {
        case .binint1, .binget, .binput, .ext1, .proto: return .fixed(1)
        case .binint2, .ext2: return .fixed(2)
        case .binint, .longBinget, .longBinput, .ext4: return .fixed(4)
        case .binfloat, .frame: return .fixed(8)
        case .int, .long, .float, .string, .unicode, .get, .put, .persid: return .line
        case .global, .inst: return .twoLines
        case .long1, .shortBinstring, .shortBinbytes, .shortBinunicode: return .counted(width: 1, signed: false)
        case .long4, .binstring: return .counted(width: 4, signed: true)
        case .binbytes, .binunicode: return .counted(width: 4, signed: false)
        case .binbytes8, .binunicode8, .bytearray8: return .counted(width: 8, signed: false)
        default: return .none
        }
    }

    /// The name pickletools uses (`SHORT_BINUNICODE`).
    var name: String {
        var result = ""
        for character in String(describing: self) {
            if character.isUppercase { result += "_" }
            result += character.uppercased()
        }
        return result
    }
}
