import ArgumentParser

@main
struct HDIOV: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hdiov",
        abstract: "Generate, build, load and manage HD-IOV mediated devices.",
        discussion: "The device contract is docs/hdiov-device.md.",
        subcommands: [
            // One line per command group; each lives in its own file.
            GenerateCommand.self,
            BuildCommand.self,
            VMCommand.self,
            BenchGroup.self,
            ParentsCommand.self,
            TypesCommand.self,
            ListCommand.self,
            CreateCommand.self,
            RemoveCommand.self,
            ModifyCommand.self,
            QemuArgsCommand.self,
            MockCommand.self,
            LoadCommand.self,
            UnloadCommand.self,
            StatusCommand.self,
            MonitorCommand.self,
            DefineCommand.self,
            UndefineCommand.self,
            StartCommand.self,
            StopCommand.self,
            ExportCommand.self,
            AutostartCommand.self,
            UdevRuleCommand.self,
            IOCommand.self,
        ]
    )
}
