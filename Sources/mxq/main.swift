import Foundation
import Support

// The mxq command-line tool: dispatches to one `Command` per subcommand.
let commands: [CommandSpec] = [
    CommandSpec(FormatsCommand.self), CommandSpec(EncodeCommand.self), CommandSpec(BenchCommand.self),
    CommandSpec(TokenizeCommand.self), CommandSpec(EvalCommand.self),
    CommandSpec(SweepCommand.self), CommandSpec(ReportCommand.self), CommandSpec(LayersCommand.self),
    CommandSpec(MergeCommand.self), CommandSpec(CompareCommand.self), CommandSpec(PlanCommand.self),
    CommandSpec(SynthCommand.self), CommandSpec(ExportCommand.self),
]

func usage() -> String {
    var s = """
    mxq — post-training quantization of language models under OCP microscaling (MX) formats

    usage: mxq COMMAND [OPTIONS]

    commands:

    """
    for c in commands { s += "  " + c.name.padding(toLength: 10, withPad: " ", startingAt: 0) + c.summary + "\n" }
    s += "\nglobal options: --threads N (default: all cores or MXQ_THREADS)\n"
    s += "'mxq help COMMAND' describes a command and its options.\n"
    return s
}

var argv = Array(CommandLine.arguments.dropFirst())
if argv.isEmpty || argv[0] == "--help" || argv[0] == "-h" {
    print(usage(), terminator: "")
    exit(0)
}
let name = argv.removeFirst()
if name == "help" {
    if let topic = argv.first {
        guard let c = commands.first(where: { $0.name == topic }) else {
            printErr("mxq: unknown command '\(topic)'; commands: \(commands.map(\.name).joined(separator: ", "))")
            exit(2)
        }
        print(c.help)
    } else {
        print(usage(), terminator: "")
    }
    exit(0)
}
guard let cmd = commands.first(where: { $0.name == name }) else {
    printErr("mxq: unknown command '\(name)'; commands: \(commands.map(\.name).joined(separator: ", ")) (see 'mxq --help')")
    exit(2)
}
if argv.contains("--help") || argv.contains("-h") {
    print(cmd.help)
    exit(0)
}
var args = Args(command: name, argv)
do {
    if let t = try args.int("--threads") {
        guard t >= 1 else { throw UsageError("\(name): --threads must be at least 1, got \(t)") }
        Parallel.defaultThreads = t
    }
    try cmd.run(&args)
    try args.finish()
} catch let e as UserFacingError {
    printErr("mxq \(name): error: \(e.description)")
    exit(2)
} catch {
    printErr("mxq \(name): error: \(error)")
    exit(1)
}
