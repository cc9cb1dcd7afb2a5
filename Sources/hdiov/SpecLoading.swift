import ArgumentParser
import HDIOVSpec

/// Parse and validate a spec; a bad spec prints its diagnostics and exits 65 (EX_DATAERR).
/// Every command that reads a spec goes through here.
func loadDeviceSpec(_ path: String) throws -> DeviceSpec {
    do {
        return try SpecParser.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(65)
    }
}
