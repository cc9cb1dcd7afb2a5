/*
 * userfaultfd helpers for the tenant-isolation checks: memory whose missing
 * pages are never served, so anything that faults on it waits until the
 * userfaultfd is closed. Each is one syscall or ioctl and returns 0 (or a
 * file descriptor) or -errno.
 */
#ifndef HDIOV_UFFD_H
#define HDIOV_UFFD_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

/* A userfaultfd (close-on-exec, non-blocking) after the UFFDIO_API handshake. */
static inline int hdiov_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int err;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Register [@addr, @addr + @len) in missing mode (page aligned). */
static inline int hdiov_uffd_register_missing(int fd, void *addr, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(fd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

/*
 * Take one pending fault message without serving it: 1 with its address in
 * *@address, 0 when none is pending, else -errno.
 */
static inline int hdiov_uffd_read_fault(int fd, uint64_t *address)
{
	struct uffd_msg msg;
	ssize_t n = read(fd, &msg, sizeof(msg));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return -EPROTO;
	*address = msg.arg.pagefault.address;
	return 1;
}

#endif
