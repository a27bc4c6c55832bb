import Diagnostics

/// The lint rules: stable ids, default severities and their documentation.
public enum RuleID: String, CaseIterable, Sendable {
    case allowThreadsLeak = "allow-threads-leak"
    case analysisBudget = "analysis-budget"
    case apiWithoutGIL = "api-without-gil"
    case deprecatedGILAPI = "deprecated-gil-api"
    case ensureLeak = "ensure-leak"
    case nestedRelease = "nested-release"
    case releaseOrder = "release-order"
    case releaseWithoutEnsure = "release-without-ensure"
    case restoreWithoutSave = "restore-without-save"

    public var info: RuleInfo { RuleCatalog.info(self) }
}
