/// postamt-remote(8) and remote delivery.
let remoteSettings: [Setting] = [
]
