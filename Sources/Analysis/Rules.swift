import Diagnostics

/// The lint rules: stable ids, default severities and their documentation.
public enum RuleID: String, CaseIterable, Sendable {
    case allowThreadsLeak = "allow-threads-leak"
    case analysisBudget = "analysis-budget"
    case apiWithoutGIL = "api-without-gil"
    case blockingWithGIL = "blocking-with-gil"
    case borrowedRefFreeThreading = "borrowed-ref-free-threading"
    case criticalSectionLeak = "critical-section-leak"
    case criticalSectionMismatch = "critical-section-mismatch"
    case deprecatedGILAPI = "deprecated-gil-api"
    case ensureLeak = "ensure-leak"
    case finalizeWithoutGIL = "finalize-without-gil"
    case initHoldsGIL = "init-holds-gil"
    case interpreterGuardLeak = "interpreter-guard-leak"
    case missingModGIL = "missing-mod-gil"
    case nestedRelease = "nested-release"
    case pymutexLeak = "pymutex-leak"
    case pymutexUnlockWithoutLock = "pymutex-unlock-without-lock"
    case releaseOrder = "release-order"
    case releaseWithoutEnsure = "release-without-ensure"
    case restoreWithoutSave = "restore-without-save"
    case threadEntryWithoutGIL = "thread-entry-without-gil"
    case threadStateTokenLeak = "thread-state-token-leak"
    case unusedSuppression = "unused-suppression"

    public var info: RuleInfo { RuleCatalog.info(self) }

    /// Reported only in free-threading mode (`--free-threading`, `free-threading: true` in .gilcheck.yml).
    public var freeThreadingOnly: Bool { self == .missingModGIL || self == .borrowedRefFreeThreading }
}
