import Foundation
import Glibc
import Testing

/// postamt-managesieved behind postamt-listen with postamt-auth and real PAM users, driven by
/// real clients: sieve-connect (Debian) and sievelib's managesieve module (PyPI), over STARTTLS.
/// A script uploaded and activated there is then used by a delivery through the runner.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct ManageSieveTests {
    static let sieveConnect = "/usr/bin/sieve-connect"
    /// A python3 (on PATH or in /usr/bin) that has sievelib (pip install sievelib).
    static let pythonWithSievelib: String? = PythonClient.candidates.first { candidate in
        (try? runProgram(candidate, ["-c", "import sievelib.managesieve"], environment: nil, timeout: 60))?.status == 0
    }
    static var hasSievelib: Bool { pythonWithSievelib != nil }

    func sieveConnect(_ service: POP3Service, _ user: POP3User, _ arguments: [String]) throws -> RunResult {
        // The password goes on fd 3, never on the command line.
        try run("/bin/sh", ["-c", "printf '%s' \"$PW\" > \"$PWFILE\"; exec 3<\"$PWFILE\"; rm -f \"$PWFILE\"; exec \"$@\"", "sh",
                            Self.sieveConnect, "--server", "127.0.0.1", "--port", "\(service.plainPort)", "--user", user.name,
                            "--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"] + arguments,
                environment: ["PW": POP3Service.password, "PWFILE": "\(service.system.root)/pw.\(UUID().uuidString)", "PATH": "/usr/bin:/bin", "HOME": "/tmp"])
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: sieveConnect), "sieve-connect is not installed (apt-get install sieve-connect)"))
    func sieveConnectUploadsAndActivatesThenDeliveryUsesIt() throws {
        let service = try POP3Service(program: "postamt-managesieved")
        let user = try POP3User()
        let local = "\(service.system.root)/filters.sieve"
        try "require [\"fileinto\"];\nif header :contains \"Subject\" \"[dev]\" { fileinto \"Lists.Dev\"; }\n".write(toFile: local, atomically: true, encoding: .utf8)
        let up = try sieveConnect(service, user, ["--upload", "--localsieve", local, "--remotesieve", "filters"])
        #expect(up.status == 0, "\(up.stdout)\(up.stderr)\n\(service.log())")
        let on = try sieveConnect(service, user, ["--activate", "--remotesieve", "filters"])
        #expect(on.status == 0, "\(on.stdout)\(on.stderr)")
        let list = try sieveConnect(service, user, ["--list"])
        #expect(list.stdout.contains("filters"), "\(list.stdout)\(list.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(user.user.home)/.dovecot.sieve") == "sieve/filters.sieve")
        var st = stat()
        lstat("\(user.user.home)/sieve/filters.sieve", &st)
        #expect(st.st_uid == user.user.uid, "the script belongs to the user: the server became the user before writing")
        // A broken script is refused with its line and column, and the active one stays.
        let bad = "\(service.system.root)/bad.sieve"
        try "if header :contains \"Subject\" {\n}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try sieveConnect(service, user, ["--upload", "--localsieve", bad, "--remotesieve", "filters"])
        #expect(refused.status != 0)
        #expect((refused.stdout + refused.stderr).contains("1:4: header takes 2 positional arguments"), "\(refused.stdout)\(refused.stderr)")

        try service.system.startRunner()
        #expect(try service.system.sendmail(["-i", user.name], "Subject: [dev] build broken\n\nfix it\n").status == 0)
        let folder = "\(user.maildir)/.Lists.Dev/new"
        try waitFor("filed by the uploaded script") { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).count == 1 }
        #expect(user.user.messages().isEmpty)
    }

    @Test(.enabled(if: hasSievelib, "sievelib is not installed (pip3 install sievelib)"))
    func sievelibManagesScripts() throws {
        let service = try POP3Service(program: "postamt-managesieved")
        let user = try POP3User()
        let script = """
        import sys
        from sievelib.managesieve import Client
        c = Client("127.0.0.1", int(sys.argv[1]))
        assert c.connect(sys.argv[2], sys.argv[3], starttls=True, authmech="PLAIN"), "login"
        assert "fileinto" in c.get_sieve_capabilities()
        assert c.havespace("vacation", 200)
        assert c.putscript("vacation", 'require ["vacation"];\\nvacation :days 3 "Away.";\\n')
        assert not c.putscript("broken", "if true {")
        assert c.setactive("vacation")
        active, others = c.listscripts()
        assert active == "vacation", (active, others)
        assert c.getscript("vacation").startswith("require")
        assert c.renamescript("vacation", "away")
        assert c.listscripts()[0] == "away"
        assert c.setactive("")
        assert c.deletescript("away")
        assert c.listscripts() == (None, [])
        c.logout()
        print("ok")
        """
        let path = "\(service.system.root)/client.py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["SSL_CERT_FILE"] = service.certificate // the test's self-signed certificate is the trusted one
        let r = try run(Self.pythonWithSievelib!, [path, "\(service.plainPort)", user.name, POP3Service.password], environment: environment)
        #expect(r.status == 0 && r.stdout == "ok\n", "\(r.stdout)\(r.stderr)\n\(service.log())")
        #expect(!FileManager.default.fileExists(atPath: "\(user.user.home)/sieve/away.sieve"))
    }
}
