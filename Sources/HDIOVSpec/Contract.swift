import CHDIOVABI

/// Numbers of the device contract that the model and its users need, from hdiov_abi.h.
public enum Contract {
    /// The contract's version: MODULE_VERSION, the parents' `version` attribute.
    public static let version = "\(HDIOV_CONTRACT_MAJOR).\(HDIOV_CONTRACT_MINOR)"
    /// A VDEV's `weight` attribute (contract section 3).
    public static let weights = Int(HDIOV_WEIGHT_MIN)...Int(HDIOV_WEIGHT_MAX)
    public static let defaultWeight = Int(HDIOV_WEIGHT_DEFAULT)
}
