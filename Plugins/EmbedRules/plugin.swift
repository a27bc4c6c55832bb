import Foundation
import PackagePlugin

/// Compiles the built-in API model into APIModel: every build writes EmbeddedRules.swift from
/// `rules/cpython.yml` and `rules/libs/*.yml`. The files are declared as inputs and listed anew on each build,
/// so an edited, added or removed rules file is embedded by the next build; the copy cannot go stale.
@main
struct EmbedRules: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let rules = context.package.directoryURL.appendingPathComponent("rules")
        let libs = rules.appendingPathComponent("libs")
        let libNames = try FileManager.default.contentsOfDirectory(atPath: libs.path).filter { $0.hasSuffix(".yml") }.sorted()
        let inputs = [rules.appendingPathComponent("cpython.yml")] + libNames.map { libs.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedRules.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) rules files in APIModel",
                executable: try context.tool(named: "EmbedRulesTool").url,
                // Each input as NAME=PATH, NAME being its path under rules/.
                arguments: [output.path, "cpython.yml=" + inputs[0].path]
                    + libNames.map { "libs/\($0)=" + libs.appendingPathComponent($0).path },
                inputFiles: inputs + [libs],
                outputFiles: [output]),
        ]
    }
}
