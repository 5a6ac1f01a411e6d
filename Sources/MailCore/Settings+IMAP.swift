/// postamt-imapd(8).
let imapSettings: [Setting] = [
]
