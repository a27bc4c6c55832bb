import APIModel
import Foundation
import Testing

/// The built-in API model travels inside the binary; a development build reads the checkout's rules/ live.
@Suite struct RelocationTests {
    /// rules/cpython.yml then rules/libs/*.yml, as names under rules/.
    func rulesOnDisk() throws -> [(name: String, text: String)] {
        let rules = packageRoot.appendingPathComponent("rules")
        let libs = try FileManager.default.contentsOfDirectory(atPath: rules.appendingPathComponent("libs").path)
            .filter { $0.hasSuffix(".yml") }.sorted()
        return try (["cpython.yml"] + libs.map { "libs/" + $0 }).map {
            ($0, try String(contentsOf: rules.appendingPathComponent($0), encoding: .utf8))
        }
    }

    @Test("the embedded API model is rules/ as it is on disk, byte for byte")
    func embeddedMatchesDisk() throws {
        let disk = try rulesOnDisk()
        let embedded = RulesLocator.embeddedFiles
        #expect(embedded.map(\.name) == disk.map(\.name), "rebuild: the EmbedRules plugin writes the embedded copy")
        for (e, d) in zip(embedded, disk) {
            #expect(e.text == d.text, "embedded \(e.name) differs from rules/\(d.name)")
        }
    }

    @Test("a binary outside a checkout uses the embedded model, one under ROOT/.build the checkout's rules/, GILCHECK_RULES_DIR either way")
    func locatorPrecedence() throws {
        let outside = RulesLocator(environment: [:], executablePath: "/opt/somewhere/bin/gilcheck")
        #expect(try outside.builtInRules() == .embedded)
        let inside = RulesLocator(environment: [:], executablePath: packageRoot.appendingPathComponent(".build/debug/gilcheck").path)
        #expect(try inside.builtInRules() == .directory(packageRoot.path + "/rules"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "version: 1\nfunctions:\n  my_acquire: { effect: ensure, state: result }\n"
            .write(to: dir.appendingPathComponent("cpython.yml"), atomically: true, encoding: .utf8)
        let overridden = RulesLocator(environment: ["GILCHECK_RULES_DIR": dir.path], executablePath: "/opt/somewhere/bin/gilcheck")
        #expect(try overridden.builtInRules() == .directory(dir.path))
        let model = try APIModel.load(locator: overridden)
        #expect(model.function(named: "my_acquire") != nil)
        #expect(model.function(named: "PyGILState_Ensure") == nil)
        let missing = RulesLocator(environment: ["GILCHECK_RULES_DIR": dir.path + "/nope"], executablePath: nil)
        #expect(throws: RulesError.self) { try missing.builtInRules() }
    }

    @Test("the embedded model loads the same functions as rules/ on disk")
    func embeddedLoadsLikeDisk() throws {
        let embedded = try APIModel.load(locator: RulesLocator(environment: [:], executablePath: "/opt/bin/gilcheck"))
        let disk = try APIModel.load(locator: RulesLocator(environment: ["GILCHECK_RULES_DIR": packageRoot.path + "/rules"]))
        #expect(embedded.functions.keys.sorted() == disk.functions.keys.sorted())
        #expect(embedded.libraries.map(\.name) == disk.libraries.map(\.name))
        #expect(embedded.sources.first == "<built-in>/rules/cpython.yml")
    }

    @Test("a copy of the gilcheck binary far from the checkout lints with the embedded model")
    func copiedBinaryLints() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gilcheck-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let built = [exe.appendingPathComponent("gilcheck"), exe.deletingLastPathComponent().appendingPathComponent("gilcheck"),
                     packageRoot.appendingPathComponent(".build/debug/gilcheck")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        let binary = try #require(built)
        let copy = dir.appendingPathComponent("gilcheck")
        try FileManager.default.copyItem(at: binary, to: copy)
        let p = Process()
        p.executableURL = copy
        p.arguments = ["lint", "--format", "json", packageRoot.appendingPathComponent("examples/render_hooks.c").path]
        var environment = ProcessInfo.processInfo.environment
        environment["GILCHECK_RULES_DIR"] = nil
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let findings = try #require(json["findings"] as? [[String: Any]])
        #expect(findings.contains { ($0["ruleId"] as? String) == "api-without-gil" })
    }
}
