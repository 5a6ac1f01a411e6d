import Foundation
import Glibc
import Testing

enum BrowserTools {
    static let available: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
        && ((try? run("/usr/bin/python3", ["-c", "import selenium"]))?.status == 0)
    static let skipReason = "needs root, chromium, chromium-driver and python3-selenium (scripts/setup installs them)"
}

/// postamt-webmail in a real browser (Debian's chromium through chromedriver and Selenium): log
/// in, read (which marks the message read), mark unread, log out, at 390 px and at 1280 px, with screenshots under
/// .build/webmail-screenshots for a human to look at. The page must not scroll sideways on a
/// phone, and the browser must report no Content-Security-Policy violation.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && BrowserTools.available, "\(BrowserTools.skipReason)"))
struct WebmailBrowserTests {
    @Test func smokeTestAtPhoneAndDesktopWidths() throws {
        let service = try WebmailService()
        let (user, password) = try TestUser.withPassword()
        try service.system.startRunner()
        let subject = "Browser test \(UInt32.random(in: 0...UInt32.max))"
        let sent = try service.system.sendmail(["-t", "-i"], """
        From: Sender <sender@example.org>
        To: \(user.name)@\(service.system.hostname)
        Subject: \(subject)
        MIME-Version: 1.0
        Content-Type: text/html; charset=utf-8

        <p>Hello <b>browser</b> <img src="https://tracker.example/p.gif"> <script>document.title='owned'</script></p>

        """)
        #expect(sent.status == 0, "\(sent.stderr)")
        try waitFor("delivery", timeout: 60) { user.messages().count == 1 }
        let shots = "\(TestEnvironment.packageRoot)/.build/webmail-screenshots"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let result = try run("/usr/bin/python3", ["-c", WebmailBrowserTests.script, service.origin, user.name, password, subject, shots],
                             environment: ["PATH": "/usr/bin:/bin", "HOME": "/tmp"], timeout: 300)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(service.log())")
        #expect(result.stdout.contains("LOGGED OUT"))
        for name in ["mobile-login", "mobile-inbox", "mobile-message", "desktop-message"] {
            #expect(FileManager.default.fileExists(atPath: "\(shots)/\(name).png"), "\(name).png")
        }
    }

    /// The newer pages in the browser, at 1280 px and at 390 px: the live unread count (the
    /// page script), a keyboard shortcut, folder create/rename/delete, a bulk action, search,
    /// show remote images, Spam and Not spam, forward as attachment refused for a bad address
    /// with the uploaded file kept, saved as a draft, resumed and sent. Screenshots of each page
    /// at both widths go to .build/webmail-screenshots.
    @Test func newerPagesAtPhoneAndDesktopWidths() throws {
        let service = try WebmailService()
        let (user, password) = try TestUser.withPassword()
        try service.system.startRunner()
        for (subject, type, body) in [("Plain note", "text/plain", "Just text."),
                                      ("Newsletter", "text/html", "<p>Hello <img src=\"https://images.invalid/pixel.gif\" alt=\"pixel\"></p>")] {
            let sent = try service.system.sendmail(["-t", "-i"], "From: Sender <sender@example.org>\nTo: \(user.name)@\(service.system.hostname)\nSubject: \(subject)\nMIME-Version: 1.0\nContent-Type: \(type); charset=utf-8\n\n\(body)\n")
            #expect(sent.status == 0, "\(sent.stderr)")
        }
        try waitFor("delivery", timeout: 60) { user.messages().count == 2 }
        let shots = "\(TestEnvironment.packageRoot)/.build/webmail-screenshots"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let upload = "\(service.system.root)/upload-notes.txt"
        try "notes to keep\n".write(toFile: upload, atomically: true, encoding: .utf8)
        let result = try run("/usr/bin/python3", ["-c", WebmailBrowserTests.newerPagesScript, service.origin, user.name, password,
                                                  "\(user.name)@\(service.system.hostname)", upload, shots],
                             environment: ["PATH": "/usr/bin:/bin", "HOME": "/tmp"], timeout: 600)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(service.log())")
        #expect(result.stdout.contains("ALL DONE"))
        for width in ["desktop", "mobile"] {
            for name in ["inbox", "folders", "search", "images", "junk", "refused", "format", "draft"] {
                #expect(FileManager.default.fileExists(atPath: "\(shots)/\(width)-\(name).png"), "\(width)-\(name).png")
            }
        }
        // Two forwards sent, each with the original attached and the kept file.
        try waitFor("the forwards", timeout: 60) { user.messages().filter { $0.contains("Subject: Fwd: Newsletter") }.count == 2 }
        let forward = user.messages().first { $0.contains("Subject: Fwd: Newsletter") } ?? ""
        #expect(forward.contains("Content-Type: message/rfc822") && forward.contains("filename=\"upload-notes.txt\""), "\(forward.prefix(3000))")
        // The one sent from the formatted draft carries its text twice: as typed and as HTML.
        #expect(user.messages().contains { $0.contains("Subject: Fwd: Newsletter") && $0.contains("multipart/alternative") && $0.contains("Content-Type: text/html") })
    }

    static let newerPagesScript = #"""
import sys, time
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait, Select
origin, user, password, address, upload, shots = sys.argv[1:]
options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--ignore-certificate-errors"]:
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
def check(condition, what):
    if not condition:
        print("FAIL", what, driver.current_url); print(driver.page_source[-3000:]); driver.quit(); sys.exit(1)
    print("ok", what)
def wait_for(test, what):
    def safe(d):
        try:
            return test(d)
        except Exception:   # the page changed under the test (a stale element): ask again
            return False
    try:
        WebDriverWait(driver, 30).until(safe)
    except Exception:
        check(False, what)
    print("ok", what)
def fits(what):
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    check(width <= inner, "%s fits %d px without scrolling sideways (%d)" % (what, inner, width))
def shot(name):
    driver.save_screenshot("%s/%s-%s.png" % (shots, prefix, name))
    fits(prefix + " " + name)
def button(text):
    return driver.find_element(By.XPATH, "//button[normalize-space(text())='%s']" % text)
def row_checkbox(subject):
    return driver.find_element(By.XPATH, "//tr[.//a[normalize-space(text())='%s']]//input[@type='checkbox']" % subject)
try:
    driver.set_window_size(1280, 900)
    driver.get(origin + "/login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(lambda d: "Newsletter" in d.page_source, "logged in")
    for prefix, width, height in [("desktop", 1280, 900), ("mobile", 390, 844)]:
        driver.set_window_size(width, height)
        driver.get(origin + "/folder?f=INBOX")
        if prefix == "desktop":
            wait_for(lambda d: d.title.startswith("(2) "), "the page script shows the unread count in the title")
            check(driver.find_element(By.ID, "unread-badge").text == "2", "and in the Inbox badge")
            driver.find_element(By.TAG_NAME, "body").send_keys("c")
            wait_for(lambda d: "/compose" in d.current_url, "the c key opens the compose form")
            driver.get(origin + "/folder?f=INBOX")
        shot("inbox")
        # Folders: create, rename, delete.
        driver.find_element(By.LINK_TEXT, "Folders").click()
        driver.find_element(By.NAME, "name").send_keys("Work" + prefix)
        button("Create").click()
        wait_for(lambda d: ">Work%s</a>" % prefix in d.page_source, "a folder is created")
        Select(driver.find_element(By.CSS_SELECTOR, "select[name=from]")).select_by_visible_text("Work" + prefix)
        driver.find_element(By.NAME, "to").send_keys("Projects" + prefix)
        button("Rename").click()
        wait_for(lambda d: ">Projects%s</a>" % prefix in d.page_source and ">Work%s</a>" % prefix not in d.page_source, "the folder is renamed")
        shot("folders")
        Select(driver.find_element(By.CSS_SELECTOR, "form[action='/folders/delete'] select")).select_by_visible_text("Projects" + prefix)
        button("Delete empty folder").click()
        wait_for(lambda d: ">Projects%s</a>" % prefix not in d.page_source, "the empty folder is deleted")
        # A bulk action: mark the plain note read, then unread again.
        driver.get(origin + "/folder?f=INBOX")
        row_checkbox("Plain note").click()
        button("Mark read").click()
        wait_for(lambda d: "unread" not in d.find_element(By.XPATH, "//tr[.//a[normalize-space(text())='Plain note']]").get_attribute("class"), "bulk Mark read")
        row_checkbox("Plain note").click()
        button("Mark unread").click()
        wait_for(lambda d: "unread" in d.find_element(By.XPATH, "//tr[.//a[normalize-space(text())='Plain note']]").get_attribute("class"), "bulk Mark unread")
        # Search.
        driver.find_element(By.NAME, "q").send_keys("NEWSLETTER")
        Select(driver.find_element(By.NAME, "in")).select_by_value("subject")
        button("Search").click()
        wait_for(lambda d: " found" in d.page_source and d.find_elements(By.LINK_TEXT, "Newsletter"), "search finds the newsletter")
        shot("search")
        # Show remote images on this one message.
        driver.find_element(By.LINK_TEXT, "Newsletter").click()
        wait_for(lambda d: "Show remote images" in d.page_source, "the message offers remote images")
        check(not driver.find_elements(By.CSS_SELECTOR, ".html-body img"), "no remote image before asking")
        driver.find_element(By.LINK_TEXT, "Show remote images").click()
        wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, ".html-body img[src^='https://images.invalid/']"), "the remote image after asking")
        shot("images")
        # Spam, then Not spam from Junk.
        button("Spam").click()
        wait_for(lambda d: "/folder" in d.current_url and not d.find_elements(By.LINK_TEXT, "Newsletter"), "Spam moves it out of INBOX")
        driver.get(origin + "/folder?f=Junk")
        check(driver.find_elements(By.LINK_TEXT, "Newsletter"), "it is in Junk")
        shot("junk")
        row_checkbox("Newsletter").click()
        button("Not spam").click()
        wait_for(lambda d: "Choose" not in d.page_source or not d.find_elements(By.LINK_TEXT, "Newsletter"), "Not spam moves it out of Junk")
        driver.get(origin + "/folder?f=INBOX")
        check(driver.find_elements(By.LINK_TEXT, "Newsletter"), "back in INBOX")
        # Forward as attachment, refused for a bad address: the text and the file stay.
        driver.find_element(By.LINK_TEXT, "Newsletter").click()
        driver.find_element(By.LINK_TEXT, "Forward as attachment").click()
        wait_for(lambda d: "message/rfc822" in d.page_source, "the forward form")
        driver.find_element(By.NAME, "to").send_keys("nobody")
        driver.find_element(By.NAME, "body").send_keys("Have a look (" + prefix + ").")
        driver.find_element(By.NAME, "attachment").send_keys(upload)
        button("Send").click()
        wait_for(lambda d: "is not an address" in d.page_source, "a bad address is refused")
        check("upload-notes.txt" in driver.page_source and driver.find_element(By.NAME, "body").get_attribute("value").startswith("Have a look"), "the text and the file are kept")
        shot("refused")
        # The formatted mode: chosen here, kept by the draft.
        Select(driver.find_element(By.NAME, "format")).select_by_value("formatted")
        driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.NAME, "format"))
        shot("format")
        button("Save draft").click()
        wait_for(lambda d: "is saved in Drafts" in d.page_source, "saved as a draft")
        check("upload-notes.txt" in driver.page_source and "forwarded.eml" in driver.page_source, "the draft keeps both attachments")
        shot("draft")
        driver.get(origin + "/folder?f=Drafts")
        driver.find_element(By.LINK_TEXT, "Fwd: Newsletter").click()
        wait_for(lambda d: "upload-notes.txt" in d.page_source, "opening the draft resumes it")
        check(Select(driver.find_element(By.NAME, "format")).first_selected_option.get_attribute("value") == "formatted", "the draft is still formatted")
        field = driver.find_element(By.NAME, "to")
        field.clear(); field.send_keys(address)
        button("Send").click()
        wait_for(lambda d: "is on its way" in d.page_source, "the draft is sent")
        driver.get(origin + "/folder?f=Drafts")
        check("Fwd: Newsletter" not in driver.page_source, "and is no longer in Drafts")
    violations = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    check(not violations, "no CSP violations: %s" % violations)
    print("ALL DONE")
finally:
    driver.quit()
"""#

    static let script = #"""
import sys
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
origin, user, password, subject, shots = sys.argv[1:]
options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--ignore-certificate-errors"]:
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
def check(condition, what):
    if not condition:
        print("FAIL", what, driver.current_url); print(driver.page_source[-2000:]); driver.quit(); sys.exit(1)
    print("ok", what)
def wait_for(text):
    WebDriverWait(driver, 30).until(lambda d: text in d.page_source)
def no_sideways_scroll(what):
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    check(width <= inner, "%s fits %d px without scrolling sideways (%d)" % (what, inner, width))
try:
    driver.set_window_size(390, 844)
    driver.get(origin + "/login")
    check("Log in" in driver.title, "the login page")
    driver.save_screenshot(shots + "/mobile-login.png")
    no_sideways_scroll("the login page")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for(subject)
    check(subject in driver.page_source, "the inbox after login")
    driver.save_screenshot(shots + "/mobile-inbox.png")
    no_sideways_scroll("the inbox")
    driver.find_element(By.LINK_TEXT, subject).click()
    wait_for("Mark unread")
    body = driver.find_element(By.CSS_SELECTOR, ".html-body")
    check(body.find_element(By.TAG_NAME, "b").text == "browser", "the HTML part is shown, sanitised")
    check(driver.title != "owned" and not driver.find_elements(By.CSS_SELECTOR, ".html-body img"), "no script ran, no remote image")
    driver.save_screenshot(shots + "/mobile-message.png")
    no_sideways_scroll("the message")
    driver.set_window_size(1280, 900)
    driver.save_screenshot(shots + "/desktop-message.png")
    check("Mark unread" in driver.page_source, "opening the message marked it read")
    driver.find_element(By.XPATH, "//button[text()='Mark unread']").click()
    wait_for("Choose")
    row = driver.find_element(By.XPATH, "//tr[.//a[normalize-space(text())='%s']]" % subject)
    check("unread" in row.get_attribute("class"), "Mark unread goes back to the list, the message unread")
    violations = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    check(not violations, "no CSP violations: %s" % violations)
    driver.find_element(By.XPATH, "//button[starts-with(text(), 'Log out')]").click()
    wait_for("Password")
    check("/login" in driver.current_url, "back at the login page")
    driver.get(origin + "/folders")
    check("/login" in driver.current_url, "the session is gone")
    print("LOGGED OUT")
finally:
    driver.quit()
"""#
}
