#if canImport(Glibc)
import Glibc
#endif

/// The loop of the bounded fuzzers (Tests/Fuzzers, one executable per parser, run by
/// scripts/test): `--iterations N` inputs from `--seed S`, each made of dictionary pieces of the
/// protocol and random bytes, fed to `target`. A trap ends the process (a non-zero status that
/// scripts/test reports); the last input is then in `--crash-file` when one is given.
public enum FuzzDriver {
    public static func run(name: String, dictionary: [[UInt8]], arguments: [String] = CommandLine.arguments,
                           target: ([UInt8]) -> Int) -> Never {
        var iterations = 2000
        var seed: UInt64 = 1
        var crashFile: String? = nil
        var args = Array(arguments.dropFirst())
        while let a = args.first {
            args.removeFirst()
            guard let v = args.first else { usage(name) }
            args.removeFirst()
            switch a {
            case "--iterations": guard let n = Int(v), n >= 0 else { usage(name) }; iterations = n
            case "--seed": guard let s = UInt64(v) else { usage(name) }; seed = s
            case "--crash-file": crashFile = v
            default: usage(name)
            }
        }
        var rng = SplitMix64(seed: seed)
        var work = 0
        for _ in 0..<iterations {
            let input = makeInput(&rng, dictionary: dictionary)
            if let crashFile { save(input, to: crashFile) }
            work &+= target(input)
        }
        if let crashFile { unlink(crashFile) }
        print("\(name): \(iterations) inputs from seed \(seed), no trap (\(work) events)")
        exit(0)
    }

    /// 1–40 pieces: a dictionary word, a random byte run, or a line end.
    public static func makeInput(_ rng: inout SplitMix64, dictionary: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 1...40, using: &rng) {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6 where !dictionary.isEmpty: out += dictionary[Int.random(in: 0..<dictionary.count, using: &rng)]
            case 6, 7: out += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: out += [13, 10]
            }
        }
        return out
    }

    static func save(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func usage(_ name: String) -> Never {
        fputs("usage: \(name) [--iterations N] [--seed S] [--crash-file PATH]\n", stderr)
        exit(64)
    }
}
