/// postamt-smtpd(8).
let smtpSettings: [Setting] = [
]
