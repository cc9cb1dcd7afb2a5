/* libudev, for HDIOVEvents (monitor, create --wait). */
#include <libudev.h>
