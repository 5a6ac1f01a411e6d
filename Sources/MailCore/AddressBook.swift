import MailSystem

/// Loads the tables behind the address resolver from the configuration: the alias file, the
/// domains file, the virtual table (its compiled .cdb when it is up to date, else the text) and
/// the sender table. A missing file is an empty table; one that cannot be read makes lookups
/// answer "try later" (`unavailable`), never a wrong "unknown".
public struct AddressBook: Sendable {
    public let resolver: AddressResolver
    /// Lines that were skipped, with file and line.
    public let problems: [ConfigProblem]
    /// Tables that exist but could not be read (lookups must fail temporarily).
    public let unavailable: [String]
    /// The virtual table was read as text because its .cdb is missing or older (slow for big tables).
    public let virtualNotCompiled: Bool

    public static func compiledPath(_ file: String) -> String { file + ".cdb" }

    public init(configuration: Configuration, aliases given: AliasTable? = nil) {
        var problems: [ConfigProblem] = []
        var unavailable: [String] = []
        func text(_ key: String) -> (path: String, text: String?) {
            let path = configuration.string(key)
            guard !path.isEmpty else { return (path, nil) }
            do {
                return (path, try FileIO.readFile(path, limit: 256 << 20).map { String(decoding: $0, as: UTF8.self) })
            } catch {
                unavailable.append("\(path): \(error)")
                return (path, nil)
            }
        }
        var aliases = AliasTable()
        if let given {
            aliases = given
        } else {
            let (path, aliasText) = text("alias_file")
            if let aliasText {
                aliases = AliasTable(text: aliasText, file: path)
                problems += aliases.problems
            }
        }
        var domains = DomainTable()
        let (domainsPath, domainsText) = text("domains_file")
        if let domainsText {
            domains = DomainTable(text: domainsText, file: domainsPath)
            problems += domains.problems
        }
        var virtual: (any AddressMap)? = nil
        var notCompiled = false
        let virtualPath = configuration.string("virtual_alias_file")
        if !virtualPath.isEmpty, FileIO.exists(virtualPath) {
            if let compiled = CompiledTable(file: virtualPath, compiledPath: AddressBook.compiledPath(virtualPath)) {
                virtual = compiled
            } else if let virtualText = text("virtual_alias_file").text {
                let table = TextTable.virtual(text: virtualText, file: virtualPath)
                problems += table.problems
                virtual = table
                notCompiled = true
            }
        }
        var senders: (any AddressMap)? = nil
        let (sendersPath, sendersText) = text("sender_file")
        if let sendersText {
            let table = TextTable.senders(text: sendersText, file: sendersPath)
            problems += table.problems
            senders = table
        }
        var resolver = AddressResolver(aliases: aliases, delimiters: configuration.string("recipient_delimiter"),
                                   localDomains: configuration.localDomains.union(domains.localDomains),
                                   hostname: configuration.hostname,
                                   virtualDomains: domains.virtualDomains, virtual: virtual, senders: senders,
                                   expansionLimit: configuration.count("alias_expansion_limit"))
        resolver.exemptSenders = Set(configuration.list("sender_login_exempt")).union(["root"])
        self.resolver = resolver
        self.problems = problems
        self.unavailable = unavailable
        self.virtualNotCompiled = notCompiled
    }
}
