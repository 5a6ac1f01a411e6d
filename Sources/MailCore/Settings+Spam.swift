/// postamt-spamcheck(8).
let spamSettings: [Setting] = [
]
