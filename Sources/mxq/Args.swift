import Support

/// A CLI command: each file `Cmd*.swift` declares one enum with these members,
/// registered in `main.swift` through `CommandSpec(X.self)`.
protocol Command {
    static var name: String { get }
    /// One line for `mxq --help`.
    static var summary: String { get }
    /// Full text for `mxq help NAME`.
    static var help: String { get }
    static func run(_ args: inout Args) throws
}

/// Type-erased command (avoids calling static requirements through existential metatypes).
struct CommandSpec {
    let name: String, summary: String, help: String
    let run: (inout Args) throws -> Void
    init<C: Command>(_ c: C.Type) {
        name = C.name; summary = C.summary; help = C.help
        run = { try C.run(&$0) }
    }
}
