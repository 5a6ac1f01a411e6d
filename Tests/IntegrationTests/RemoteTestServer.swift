import Foundation

/// The scriptable SMTP server of the remote delivery tests (Python, standard library only).
let remoteTestServerScript = #"""
# A scriptable SMTP server for postamt-remote's tests: one listener per (address, mode),
# all on one port. Writes every transaction to OUTDIR as JSON. Modes (comma-separated flags):
# ok, greet554, greet421, silent, mail451, mail550, closedata, starttlsfail, nopipelining,
# no8bitmime, size100, tls, auth, nosmtputf8, dsn, requiretls (announced after STARTTLS, RFC 8689)
# Recipient local parts choose RCPT/DATA replies: rcpt550*, rcpt451*, data554*, data451*, dot554*, dot451*.
import json, os, socket, ssl, sys, threading, base64, time

outdir, port = sys.argv[1], int(sys.argv[2])
cert = sys.argv[3] if len(sys.argv) > 3 else None
key = sys.argv[4] if len(sys.argv) > 4 else None
listeners = json.loads(sys.stdin.readline())  # [["127.0.0.2", "ok,tls"], ...]
counter = [0]
lock = threading.Lock()

def serve(conn, addr, flags):
    f = conn.makefile("rb")
    raw = []
    def send(s):
        conn.sendall(s.encode() + b"\r\n")
    def line():
        l = f.readline(100000)
        raw.append(l)
        return l
    state = {"mail": None, "rcpts": [], "tls": False, "auth": None, "ehlo": None, "data": None, "wire": None}
    if "silent" in flags:
        time.sleep(30); conn.close(); return
    if "greet554" in flags: send("554 5.3.2 no service here"); 
    elif "greet421" in flags: send("421 4.3.2 busy"); conn.close(); return
    else: send("220 test.example ESMTP")
    def caps():
        c = ["250-test.example"]
        if "nopipelining" not in flags: c.append("250-PIPELINING")
        if "no8bitmime" not in flags: c.append("250-8BITMIME")
        c.append("250-SIZE 100" if "size100" in flags else "250-SIZE 10000000")
        if ("tls" in flags or "starttlsfail" in flags) and not state["tls"]: c.append("250-STARTTLS")
        if "auth" in flags: c.append("250-AUTH LOGIN PLAIN")
        if "nosmtputf8" not in flags: c.append("250-SMTPUTF8")
        if "dsn" in flags: c.append("250-DSN")
        if "requiretls" in flags and state["tls"]: c.append("250-REQUIRETLS")
        c.append("250 ENHANCEDSTATUSCODES")
        return "\r\n".join(c)
    fileobj = f
    while True:
        l = fileobj.readline(100000)
        if not l: break
        raw.append(l)
        cmd = l.decode("utf-8", "replace").rstrip("\r\n")
        up = cmd.upper()
        if up.startswith("EHLO"):
            if "noehlo" in flags: send("502 5.5.1 no EHLO"); continue
            state["ehlo"] = cmd; send(caps())
        elif up.startswith("HELO"):
            state["ehlo"] = cmd; send("250 test.example")
        elif up == "STARTTLS":
            if "starttlsfail" in flags:
                send("220 2.0.0 go ahead"); conn.sendall(b"this is not TLS\r\n"); conn.close(); return
            send("220 2.0.0 go ahead")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
            conn = ctx.wrap_socket(conn, server_side=True)
            fileobj = conn.makefile("rb"); state["tls"] = True
        elif up.startswith("AUTH PLAIN "):
            state["auth"] = base64.b64decode(cmd[11:]).decode(); send("235 2.7.0 ok")
        elif up.startswith("AUTH LOGIN"):
            send("334 VXNlcm5hbWU6"); u = fileobj.readline().strip(); send("334 UGFzc3dvcmQ6"); p = fileobj.readline().strip()
            state["auth"] = "\0" + base64.b64decode(u).decode() + "\0" + base64.b64decode(p).decode(); send("235 2.7.0 ok")
        elif up.startswith("MAIL FROM:"):
            if "auth" in flags and not state["auth"]: send("530 5.7.0 auth first"); continue
            if "mail451" in flags: send("451 4.3.0 try MAIL later"); continue
            if "mail550" in flags: send("550 5.7.1 sender refused"); continue
            state["mail"] = cmd; state["rcpts"] = []; state["rcptcmds"] = []; send("250 2.1.0 ok")
        elif up.startswith("RCPT TO:"):
            state.setdefault("rcptcmds", []).append(cmd)
            r = cmd[8:].strip().split(" ")[0].strip("<>")
            if r.startswith("rcpt550"): send("550 5.1.1 <%s>: no such user" % r)
            elif r.startswith("rcpt451"): send("451 4.2.0 <%s>: greylisted" % r)
            else: state["rcpts"].append(r); send("250 2.1.5 ok")
        elif up == "DATA":
            if not state["rcpts"]: send("554 5.5.1 no valid recipients"); continue
            if any(r.startswith("data554") for r in state["rcpts"]): send("554 5.6.0 no DATA for you"); continue
            if any(r.startswith("data451") for r in state["rcpts"]): send("451 4.3.0 no DATA now"); continue
            send("354 go ahead")
            wire = b""
            while True:
                d = fileobj.readline(1000000)
                if not d: conn.close(); return
                wire += d
                if "closedata" in flags and len(wire) > 20: conn.close(); return
                if d == b".\r\n": break
            lines = wire[:-3].split(b"\r\n")
            body = b"\r\n".join(x[1:] if x.startswith(b".") else x for x in lines)
            with lock:
                counter[0] += 1; n = counter[0]
            rec = {"addr": addr, "flags": flags, "ehlo": state["ehlo"], "mail": state["mail"], "rcpts": state["rcpts"],
                   "tls": state["tls"], "auth": state["auth"], "rcptcmds": state.get("rcptcmds", [])}
            if any(r.startswith("dot554") for r in state["rcpts"]): send("554 5.7.1 content rejected"); rec["rejected"] = True
            elif any(r.startswith("dot451") for r in state["rcpts"]): send("451 4.7.1 try content later"); rec["rejected"] = True
            else: send("250 2.0.0 queued as %d" % n)
            open(os.path.join(outdir, "msg%03d.wire" % n), "wb").write(wire)
            open(os.path.join(outdir, "msg%03d.eml" % n), "wb").write(body)
            json.dump(rec, open(os.path.join(outdir, "msg%03d.json" % n), "w"))
        elif up == "QUIT":
            send("221 2.0.0 bye"); break
        elif up == "RSET": send("250 ok")
        else: send("500 5.5.2 what?")
    conn.close()

socks = []
for addr, flags in listeners:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
    except OSError:
        continue  # no IPv6 here: the tests that need it are skipped
    s.listen(50); socks.append((s, addr, flags.split(",")))
def loop(s, addr, flags):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, addr, flags), daemon=True).start()
for s, a, fl in socks:
    threading.Thread(target=loop, args=(s, a, fl), daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()  # lifeline: ends when the test closes stdin
"""#
