/// postamt-pop3d(8).
let pop3Settings: [Setting] = [
]
