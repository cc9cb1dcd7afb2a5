/* libkmod, for HDIOVModules (load/unload/status). */
#include <libkmod.h>
