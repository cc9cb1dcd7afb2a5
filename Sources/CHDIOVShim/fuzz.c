#include "hdiov_fuzz.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

static const unsigned long cmds[] = {
	VFIO_DEVICE_GET_INFO,
	VFIO_DEVICE_GET_REGION_INFO,
	VFIO_DEVICE_GET_IRQ_INFO,
	VFIO_DEVICE_SET_IRQS,
	VFIO_DEVICE_RESET,
	VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
	VFIO_DEVICE_IOEVENTFD,
	VFIO_DEVICE_FEATURE,
	_IO(VFIO_TYPE, VFIO_BASE + 40),
	0,
};

unsigned long hdiov_fuzz_ioctl_cmd(unsigned int i)
{
	return cmds[i % (sizeof(cmds) / sizeof(cmds[0]))];
}

unsigned int hdiov_fuzz_ioctl_cmd_count(void)
{
	return sizeof(cmds) / sizeof(cmds[0]);
}

long hdiov_fuzz_ioctl(int fd, unsigned long cmd, void *buf)
{
	long ret = ioctl(fd, cmd, buf);

	return ret < 0 ? -errno : ret;
}

int hdiov_fuzz_mmap(int fd, uint64_t offset, size_t length, int shared,
		    int touch)
{
	void *p = mmap(NULL, length, PROT_READ | PROT_WRITE,
		       shared ? MAP_SHARED : MAP_PRIVATE, fd, (off_t)offset);

	if (p == MAP_FAILED)
		return -errno;
	if (touch)
		*(volatile uint32_t *)p = *(volatile uint32_t *)p + 1;
	munmap(p, length);
	return 0;
}
