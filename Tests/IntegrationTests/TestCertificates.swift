import Foundation

/// A throw-away CA and one server certificate from it (EC P-256, two days), for tests that
/// need a chain: WORK/ca.pem, WORK/NAME.pem (leaf), WORK/NAME.key. `dnsNames` may hold IP
/// addresses too.
func makeTestCA(in work: String, commonName: String, leaf name: String, dnsNames: [String]) throws -> (ca: String, cert: String, key: String) {
    let ca = "\(work)/ca.pem", caKey = "\(work)/ca.key", cert = "\(work)/\(name).pem", key = "\(work)/\(name).key"
    var r = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                         "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=\(commonName)",
                                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
    guard r.status == 0 else { throw HarnessError("openssl CA: \(r.stderr)") }
    r = try run("/usr/bin/openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                     "-keyout", key, "-out", "\(work)/\(name).csr", "-subj", "/CN=\(dnsNames[0])"])
    guard r.status == 0 else { throw HarnessError("openssl CSR: \(r.stderr)") }
    // An IP address (an https: rua with an IP-literal host) goes in as an IP SAN.
    let sans = dnsNames.map { $0.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
    try "subjectAltName=\(sans)\n".write(toFile: "\(work)/\(name).cnf", atomically: true, encoding: .utf8)
    r = try run("/usr/bin/openssl", ["x509", "-req", "-in", "\(work)/\(name).csr", "-CA", ca, "-CAkey", caKey, "-CAcreateserial",
                                     "-out", cert, "-days", "2", "-extfile", "\(work)/\(name).cnf"])
    guard r.status == 0 else { throw HarnessError("openssl sign: \(r.stderr)") }
    return (ca, cert, key)
}
