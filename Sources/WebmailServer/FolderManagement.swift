import Maildir
import WebmailProtocol

/// Creating, renaming and deleting folders, and actions on several messages at once. Names
/// follow Maildir++ (MaildirFolders.validate): no "/", no leading, trailing or doubled ".", no
/// control characters, not INBOX; "." separates levels. The special folders stay where they are
/// (the webmail and imapd create them when needed), and so does a folder that holds a special
/// use (RFC 6154, given with IMAP's CREATE … USE); only an empty folder is deleted, so that no
/// message is lost by one click without a confirmation page.
extension RequestContext {
    func folderForms() -> String {
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(e(session.csrfToken))\">"
        let specialHolders = Set(specialUses.values)
        let own = folderNames().filter { $0 != "INBOX" && !MaildirFolders.specialFolders.contains($0) && !specialHolders.contains($0) }
        let options = own.map { "<option>\(e($0))</option>" }.joined()
        var out = """
        <h2>Manage folders</h2>
        <form method="post" action="/folders/create" class="search">\(token)<label>New folder <input name="name" required></label><button type="submit">Create</button></form>
        """
        if !own.isEmpty {
            out += """
            <form method="post" action="/folders/rename" class="search">\(token)<select name="from" aria-label="Folder to rename">\(options)</select><label>new name <input name="to" required></label><button type="submit">Rename</button></form>
            <form method="post" action="/folders/delete" class="search">\(token)<select name="name" aria-label="Folder to delete">\(options)</select><button type="submit">Delete empty folder</button></form>
            """
        }
        return out
    }

    func manageFolder(_ path: String, _ form: [(name: String, value: String)]) -> HTTPResponse {
        func field(_ name: String) -> String { form.first { $0.name == name }?.value ?? "" }
        guard let rootPath else { return failure(500, "Your mailbox is not a Maildir.") }
        let folders = MaildirFolders(root: Maildir(path: rootPath))
        func checked(_ name: String) -> HTTPResponse? {
            do { try MaildirFolders.validate(name) } catch {
                return failure(400, "\"\(name)\" is not a folder name: \(error); nothing was changed.")
            }
            return nil
        }
        let specialHolders = Set(specialUses.values)
        func special(_ name: String) -> HTTPResponse? {
            MaildirFolders.specialFolders.contains(name) || specialHolders.contains(name)
                ? failure(400, "\(name) is a special folder and stays; nothing was changed.") : nil
        }
        // The changes themselves are imapd's CREATE, RENAME and DELETE (IMAPCommandRunner): the
        // postamt-specialuse file follows as it does for an IMAP client. The subscriptions follow
        // too (a folder made here is subscribed, a renamed one keeps its subscription under the
        // new name, a deleted one is unsubscribed), so IMAP clients that show subscribed folders
        // only see what the webmail shows.
        let engine = imap()
        func refused(_ result: IMAPCommandRunner.Result, _ what: String) -> HTTPResponse {
            let status = result.text.contains("[ALREADYEXISTS]") ? 409 : result.text.contains("[NONEXISTENT]") ? 404 : 400
            return failure(status, "\(what): \(RequestContext.withoutCode(result.text)); nothing was changed.")
        }
        switch path {
        case "/folders/create":
            let name = field("name")
            if let refusal = checked(name) { return refusal }
            if folders.exists(name) { return failure(409, "A folder \(name) exists already; nothing was changed.") }
            let result = engine.create(name)
            guard result.ok else { return refused(result, "The folder could not be created") }
            app.log("folder created user=\(user.name) folder=\(name)")
        case "/folders/rename":
            let from = field("from"), to = field("to")
            if let refusal = checked(from) ?? checked(to) ?? special(from) ?? special(to) { return refusal }
            guard folders.exists(from) else { return failure(404, "There is no folder \(from); nothing was changed.") }
            if folders.exists(to) { return failure(409, "A folder \(to) exists already; nothing was changed.") }
            let subscribed = engine.subscriptions().filter { $0 == from || $0.hasPrefix(from + ".") }
            let result = engine.rename(from, to: to)
            guard result.ok else { return refused(result, "The folder could not be renamed") }
            for name in subscribed {
                engine.unsubscribe(name)
                engine.subscribe(to + name.dropFirst(from.count))
            }
            app.log("folder renamed user=\(user.name) folder=\(from) to=\(to)")
        case "/folders/delete":
            let name = field("name")
            if let refusal = checked(name) ?? special(name) { return refusal }
            guard folders.exists(name) else { return failure(404, "There is no folder \(name); nothing was changed.") }
            guard let snapshot = try? MaildirMailbox(maildir: Maildir(path: "\(rootPath)/.\(name)"), rootPath: rootPath).synchronize(moveNew: false) else {
                return failure(500, "The folder cannot be read; nothing was changed.")
            }
            guard snapshot.messages.isEmpty else {
                return failure(409, "\(name) holds \(snapshot.messages.count) message(s): move or delete them first; nothing was changed.")
            }
            let result = engine.delete(name)
            guard result.ok else { return refused(result, "The folder could not be deleted") }
            engine.unsubscribe(name)
            app.log("folder deleted user=\(user.name) folder=\(name)")
        default:
            return failure(404, "There is no such action.")
        }
        return .redirect("/folders")
    }

    /// Empty Trash: every message in the \\Trash folder is removed for good. The form says how
    /// many messages the user saw; if more arrived since, nothing is removed (409), so nothing is
    /// lost that the user did not see.
    func emptyTrash(_ form: [(name: String, value: String)]) -> HTTPResponse {
        let name: String, trash: MaildirMailbox
        do { (name, trash) = try specialFolder(.trash) } catch { return failure(500, "The Trash folder cannot be opened; nothing was changed.") }
        guard let snapshot = try? trash.synchronize(moveNew: false) else { return failure(500, "\(name) cannot be read; nothing was changed.") }
        guard let seen = form.first(where: { $0.name == "count" }).flatMap({ Int($0.value) }), seen == snapshot.messages.count else {
            return failure(409, "\(name) changed since you looked at it; nothing was removed.")
        }
        do { _ = try trash.remove(uids: snapshot.messages.map(\.uid)) } catch {
            app.log("empty trash failed user=\(user.name): \(error)")
            return failure(500, "\(name) could not be emptied.")
        }
        app.log("trash emptied user=\(user.name) folder=\(name) messages=\(snapshot.messages.count)")
        return .redirect(RequestContext.folderLink(name))
    }

    /// An IMAP response text without its leading [CODE].
    static func withoutCode(_ text: String) -> String {
        guard text.hasPrefix("["), let close = text.firstIndex(of: "]") else { return text }
        return String(text[text.index(after: close)...].drop(while: { $0 == " " }))
    }

    /// Several messages of one folder, chosen with checkboxes: mark read or unread, delete
    /// (to Trash; in Trash for good), move. All named messages must exist, or nothing changes.
    func bulkAction(_ form: [(name: String, value: String)]) -> HTTPResponse {
        let name = form.first { $0.name == "f" }?.value ?? ""
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return mailError(error) }
        let texts = form.filter { $0.name == "uid" }.map(\.value)
        guard !texts.isEmpty else { return failure(400, "Choose at least one message; nothing was changed.") }
        guard texts.count <= 1000 else { return failure(400, "At most 1000 messages at once; nothing was changed.") }
        var uids: [UInt32] = []
        for text in texts {
            guard let uid = UInt32(text), uid > 0 else { return failure(400, "That is not a message number; nothing was changed.") }
            if !uids.contains(uid) { uids.append(uid) }
        }
        guard (try? mailbox.synchronize(moveNew: false)) != nil, uids.allSatisfy({ mailbox.message(uid: $0) != nil }) else {
            return failure(404, "A chosen message is not there any more; nothing was changed.")
        }
        let op = form.first { $0.name == "op" }?.value ?? ""
        do {
            switch op {
            case "seen": _ = try mailbox.store(uids: uids, .add(.seen))
            case "unseen": _ = try mailbox.store(uids: uids, .remove(.seen))
            case "delete":
                let (trashName, trash) = try specialFolder(.trash)
                if name == trashName {
                    _ = try mailbox.remove(uids: uids)
                } else {
                    _ = try mailbox.move(uids: uids, to: trash)
                }
            case "move":
                let target = form.first { $0.name == "to" }?.value ?? ""
                guard target != name else { return failure(400, "The messages are in that folder already; nothing was changed.") }
                let destination: MaildirMailbox
                do { destination = try self.mailbox(target) } catch { return mailError(error) }
                try move(uids, from: mailbox, named: name, to: destination, named: target)
            case "spam", "ham":
                guard let (target, destination) = try spamTarget(op, from: name) else {
                    return failure(400, op == "spam" ? "The messages are in Junk already; nothing was changed." : "Only messages in Junk can be marked as not spam; nothing was changed.")
                }
                try move(uids, from: mailbox, named: name, to: destination, named: target)
            default:
                return failure(400, "Unknown action; nothing was changed.")
            }
        } catch {
            app.log("bulk action failed user=\(user.name): \(error)")
            return failure(500, "The change could not be made.")
        }
        app.log("\(op) user=\(user.name) folder=\(name) messages=\(uids.count)")
        return .redirect(RequestContext.folderLink(name))
    }

    /// The buttons under a folder's list, for the messages ticked in it.
    func bulkButtons(folder: String) -> String {
        var out = "<div class=\"actions\"><button type=\"submit\" name=\"op\" value=\"seen\">Mark read</button>"
        out += "<button type=\"submit\" name=\"op\" value=\"unseen\">Mark unread</button>"
        out += "<button type=\"submit\" name=\"op\" value=\"delete\">\(folder == specialName(.trash) ? "Delete for good" : "Delete")</button>"
        out += folder == specialName(.junk) ? "<button type=\"submit\" name=\"op\" value=\"ham\">Not spam</button>" : "<button type=\"submit\" name=\"op\" value=\"spam\">Spam</button>"
        let targets = folderNames().filter { $0 != folder }
        if !targets.isEmpty {
            out += "<select name=\"to\" aria-label=\"Folder\">" + targets.map { "<option>\(e($0))</option>" }.joined() + "</select>"
            out += "<button type=\"submit\" name=\"op\" value=\"move\">Move</button>"
        }
        return out + "</div>"
    }
}
