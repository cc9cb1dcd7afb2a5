/*
 * The device ABI (kmod/hdiov_abi.h, the one copy) compiled for user space: its
 * layout assertions are checked here as well as in the kernel build, and Swift
 * imports its constants and structs through this module.
 */
#include "hdiov_abi.h"
