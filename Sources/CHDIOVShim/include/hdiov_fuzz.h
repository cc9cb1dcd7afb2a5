/*
 * Helpers for the VFIO fuzzer: the VFIO device ioctl numbers (macros Swift cannot
 * import) and raw calls that pass whatever the fuzzer made up.
 */
#ifndef HDIOV_FUZZ_H
#define HDIOV_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* VFIO_DEVICE_GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET, and
 * a few numbers around them; @i wraps. */
unsigned long hdiov_fuzz_ioctl_cmd(unsigned int i);
unsigned int hdiov_fuzz_ioctl_cmd_count(void);

/* ioctl(fd, cmd, buf); returns the result or -errno. */
long hdiov_fuzz_ioctl(int fd, unsigned long cmd, void *buf);

/* mmap and immediately unmap; returns 0 or -errno. Touches the first word
 * when the mapping succeeded and @touch is set. */
int hdiov_fuzz_mmap(int fd, uint64_t offset, size_t length, int shared,
		    int touch);

#endif
