import MailCore
import MailSystem

/// The auth settings, read from a `Configuration`.
public struct AuthConfiguration: Sendable, Equatable {
    public var socketPath: String
    public var group: String
    public var pamService: String
    public var passwdFile: String
    public var cacheLifetime: Int64
    public var negativeCacheLifetime: Int64
    public var cacheSize: Int
    public var failureDelay: Int64
    public var workerLimit: Int
    public var workerTimeout: Int64
    public var clientTimeout: Int64
    /// The auth_throttle_* settings; the limits of `AuthThrottle` (in postamt-auth serve).
    public var throttleWindow: Int64
    public var throttleDelayAfter: Int
    public var throttleMaxDelay: Int64
    public var throttleBlockAfter: Int
    public var throttleBlockTime: Int64
    public var throttleUserBlockAfter: Int
    public var throttleUserBlockTime: Int64
    public var throttleFamiliarTime: Int64
    public var throttleMaxEntries: Int
    /// Where the throttle keeps its blocks across restarts: state_directory/auth-throttle.
    public var throttleStateFile: String

    public init(_ configuration: Configuration) {
        func value(_ key: String) -> String { AuthConfiguration.string(key, in: configuration) }
        func seconds(_ key: String) -> Int64 { Configuration.parseDuration(value(key)) ?? 0 }
        socketPath = value("auth_socket")
        group = value("auth_group")
        pamService = value("pam_service")
        passwdFile = value("auth_passwd_file")
        cacheLifetime = seconds("auth_cache_ttl")
        negativeCacheLifetime = seconds("auth_cache_negative_ttl")
        cacheSize = Int(value("auth_cache_size")) ?? 0
        failureDelay = seconds("auth_failure_delay")
        workerLimit = max(1, Int(value("auth_worker_limit")) ?? 1)
        workerTimeout = max(1, seconds("auth_worker_timeout"))
        clientTimeout = max(1, seconds("auth_timeout"))
        throttleWindow = seconds("auth_throttle_window")
        throttleDelayAfter = configuration.count("auth_throttle_delay_after")
        throttleMaxDelay = seconds("auth_throttle_max_delay")
        throttleBlockAfter = configuration.count("auth_throttle_block_after")
        throttleBlockTime = seconds("auth_throttle_block_time")
        throttleUserBlockAfter = configuration.count("auth_throttle_user_block_after")
        throttleUserBlockTime = seconds("auth_throttle_user_block_time")
        throttleFamiliarTime = seconds("auth_throttle_familiar_time")
        throttleMaxEntries = max(1, configuration.count("auth_throttle_max_entries"))
        throttleStateFile = value("state_directory") + "/auth-throttle"
    }

    /// The PAM service for a caller's protocol: `pam_service` with `%s` replaced.
    public func pamService(for service: String) -> String { pamService.replacingAll("%s", with: service) }

    static func string(_ key: String, in configuration: Configuration) -> String { configuration.string(key) }
}
