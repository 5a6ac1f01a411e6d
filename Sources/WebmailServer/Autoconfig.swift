import MailCore
import WebmailProtocol

/// One listener the autoconfiguration documents describe (autoconfig_services: `imap:993:ssl`).
public struct AutoconfigService: Sendable, Equatable {
    public enum MailProtocol: String, Sendable { case imap, pop3, smtp }
    public enum Security: String, Sendable { case ssl, starttls }
    public var proto: MailProtocol
    public var port: Int
    public var security: Security

    public init(proto: MailProtocol, port: Int, security: Security) { self.proto = proto; self.port = port; self.security = security }

    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: ":")
        guard parts.count == 3, let proto = MailProtocol(rawValue: String(parts[0])), let port = Int(parts[1]), (1...65535).contains(port),
              let security = Security(rawValue: String(parts[2])) else { return nil }
        self.init(proto: proto, port: port, security: security)
    }
}

/// Thunderbird's autoconfig (config-v1.1.xml) and Outlook's autodiscover (POX) documents: the
/// host name, the ports and TLS modes actually configured, and the login name (%EMAILLOCALPART%
/// for local domains: the system user; a virtual address logs in as the one system user its
/// entry resolves to, `loginName(for:resolver:)`).
public enum Autoconfig {
    static func x(_ text: String) -> String { HTMLEscape.escape(text) }

    /// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
    /// `username`: the login name when the request named an address (its resolved user),
    /// else Thunderbird's placeholder for the address's local part.
    public static func thunderbird(hostname: String, domain: String, services: [AutoconfigService], username: String = "%EMAILLOCALPART%") -> String {
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <clientConfig version="1.1">
          <emailProvider id="\(x(domain))">
            <domain>\(x(domain))</domain>
            <displayName>\(x(domain)) mail</displayName>
            <displayShortName>\(x(domain))</displayShortName>

        """
        for s in services {
            let kind = s.proto == .smtp ? "outgoingServer" : "incomingServer"
            out += """
                <\(kind) type="\(s.proto.rawValue)">
                  <hostname>\(x(hostname))</hostname>
                  <port>\(s.port)</port>
                  <socketType>\(s.security == .ssl ? "SSL" : "STARTTLS")</socketType>
                  <authentication>password-cleartext</authentication>
                  <username>\(x(username))</username>
                </\(kind)>

            """
        }
        out += "  </emailProvider>\n</clientConfig>\n"
        return out
    }

    /// [MS-OXDSCLI] "Outlook" response schema: one Protocol element per service.
    public static func outlook(hostname: String, loginName: String, services: [AutoconfigService]) -> String {
        var out = """
        <?xml version="1.0" encoding="utf-8"?>
        <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
          <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
            <Account>
              <AccountType>email</AccountType>
              <Action>settings</Action>

        """
        for s in services {
            out += """
                  <Protocol>
                    <Type>\(s.proto == .imap ? "IMAP" : s.proto == .pop3 ? "POP3" : "SMTP")</Type>
                    <Server>\(x(hostname))</Server>
                    <Port>\(s.port)</Port>
                    <LoginName>\(x(loginName))</LoginName>
                    <DomainRequired>off</DomainRequired>
                    <SPA>off</SPA>
                    <SSL>on</SSL>
                    <Encryption>\(s.security == .ssl ? "SSL" : "TLS")</Encryption>
                    <AuthRequired>on</AuthRequired>
                  </Protocol>

            """
        }
        out += "    </Account>\n  </Response>\n</Autodiscover>\n"
        return out
    }

    /// An Apple configuration profile (a .mobileconfig: an XML property list with one
    /// com.apple.mail.managed payload) for `address`, logging in as `loginName`: the first IMAP
    /// listener (else POP3) and the first submission listener of `services`, implicit TLS
    /// preferred. Unsigned: the device says so when it is installed.
    public static func appleProfile(hostname: String, address: String, loginName: String, services: [AutoconfigService],
                                    uuid: () -> String) -> String? {
        func preferred(_ proto: AutoconfigService.MailProtocol) -> AutoconfigService? {
            services.first { $0.proto == proto && $0.security == .ssl } ?? services.first { $0.proto == proto }
        }
        guard let incoming = preferred(.imap) ?? preferred(.pop3), let outgoing = preferred(.smtp) else { return nil }
        let reversed = hostname.split(separator: ".").reversed().joined(separator: ".")
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
        <plist version="1.0">
        <dict>
          <key>PayloadContent</key>
          <array>
            <dict>
              <key>EmailAccountDescription</key><string>\(x(address))</string>
              <key>EmailAccountName</key><string>\(x(loginName))</string>
              <key>EmailAccountType</key><string>\(incoming.proto == .imap ? "EmailTypeIMAP" : "EmailTypePOP")</string>
              <key>EmailAddress</key><string>\(x(address))</string>
              <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
              <key>IncomingMailServerHostName</key><string>\(x(hostname))</string>
              <key>IncomingMailServerPortNumber</key><integer>\(incoming.port)</integer>
              <key>IncomingMailServerUseSSL</key><true/>
              <key>IncomingMailServerUsername</key><string>\(x(loginName))</string>
              <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
              <key>OutgoingMailServerHostName</key><string>\(x(hostname))</string>
              <key>OutgoingMailServerPortNumber</key><integer>\(outgoing.port)</integer>
              <key>OutgoingMailServerUseSSL</key><true/>
              <key>OutgoingMailServerUsername</key><string>\(x(loginName))</string>
              <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
              <key>PayloadDisplayName</key><string>\(x(address))</string>
              <key>PayloadIdentifier</key><string>\(x(reversed)).mail.account</string>
              <key>PayloadType</key><string>com.apple.mail.managed</string>
              <key>PayloadUUID</key><string>\(uuid())</string>
              <key>PayloadVersion</key><integer>1</integer>
            </dict>
          </array>
          <key>PayloadDisplayName</key><string>\(x(hostname)) mail</string>
          <key>PayloadIdentifier</key><string>\(x(reversed)).mail</string>
          <key>PayloadType</key><string>Configuration</string>
          <key>PayloadUUID</key><string>\(uuid())</string>
          <key>PayloadVersion</key><integer>1</integer>
        </dict>
        </plist>

        """
    }

    /// A random (version 4) UUID in its text form, from 32 random hex digits.
    public static func uuid(hex: String) -> String {
        var digits = Array(hex.prefix(32).uppercased())
        digits[12] = "4"
        digits[16] = ["8", "9", "A", "B"][Int(String(digits[16]), radix: 16)! & 3]
        let s = String(digits)
        func part(_ a: Int, _ b: Int) -> Substring { s.dropFirst(a).prefix(b - a) }
        return "\(part(0, 8))-\(part(8, 12))-\(part(12, 16))-\(part(16, 20))-\(part(20, 32))"
    }

    /// The login name for `address`: a virtual address (or an alias) that reaches exactly one
    /// system user logs in as that user (what the resolver routes it to); a local address as the
    /// user of its name, without an address extension; anything else as its local part.
    public static func loginName(for address: String, resolver: AddressResolver) -> String {
        let local = address.lastIndex(of: "@").map { String(address[..<$0]) } ?? address
        guard resolver.isOurs(address) else { return local }
        let users = Set(resolver.resolve(address).compactMap { destination -> String? in
            if case .user(let name, _, _) = destination { return name }
            return nil
        })
        if users.count == 1 { return users.first! }
        return resolver.isLocal(address) ? resolver.splitExtension(local).user : local
    }

    /// The address inside an autodiscover request's <EMailAddress> element; nil when missing.
    public static func requestedAddress(_ body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(16384), as: UTF8.self)
        guard let open = text.firstRange(of: "<EMailAddress>"),
              let close = text[open.upperBound...].firstRange(of: "</EMailAddress>") else { return nil }
        let address = String(text[open.upperBound..<close.lowerBound].filter { $0 != " " && $0 != "\t" && $0 != "\r" && $0 != "\n" })
        guard address.utf8.count <= 254, address.contains("@"), address.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: "&") }) else { return nil }
        return address
    }
}
