/*
 * Data-path helpers for Swift: memory ordering around the doorbell page and
 * ring memory, and the INTx unmask ioctl. Each is one instruction or one ioctl.
 */
#ifndef HDIOV_DP_H
#define HDIOV_DP_H

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

/* A full barrier: ring writes before SQ_TAIL, SQ_TAIL before NEED_KICK. */
static inline void hdiov_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint32_t hdiov_load32(const volatile void *p)
{
	return __atomic_load_n((const volatile uint32_t *)p, __ATOMIC_ACQUIRE);
}

static inline void hdiov_store32(volatile void *p, uint32_t v)
{
	__atomic_store_n((volatile uint32_t *)p, v, __ATOMIC_RELEASE);
}

static inline uint16_t hdiov_load16(const volatile void *p)
{
	return __atomic_load_n((const volatile uint16_t *)p, __ATOMIC_ACQUIRE);
}

/* Unmask INTx (ACTION_UNMASK, DATA_NONE). */
static inline int hdiov_vfio_unmask_intx(int device)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = 0,
		.count = 1,
	};

	return ioctl(device, VFIO_DEVICE_SET_IRQS, &set) < 0 ? -errno : 0;
}

#endif
