/*
 * A thin C shim over the VFIO ioctls, for Swift. Each function does one ioctl
 * (or one open) and returns 0 or a file descriptor, or -errno on failure.
 */
#ifndef HDIOV_SHIM_H
#define HDIOV_SHIM_H

#include <stdint.h>

struct hdiov_region {
	uint64_t size;
	uint64_t offset;
	uint32_t flags;
	/* First sparse-mmap area, when the region has the capability. */
	uint32_t nr_sparse_areas;
	uint64_t sparse_offset;
	uint64_t sparse_size;
};

/* Open /dev/vfio/vfio and check the API version. */
int hdiov_vfio_open_container(const char *path);
/* Open a group node, check it is viable, attach it to the container. */
int hdiov_vfio_open_group(const char *path, int container);
/* Pick the type1 IOMMU backend (v2 when offered). */
int hdiov_vfio_set_iommu(int container);
/* A device fd by the device's name in the group (the mdev UUID). */
int hdiov_vfio_open_device(int group, const char *name);

int hdiov_vfio_device_info(int device, uint32_t *flags, uint32_t *num_regions,
			   uint32_t *num_irqs);
int hdiov_vfio_region_info(int device, uint32_t index, struct hdiov_region *out);
int hdiov_vfio_irq_info(int device, uint32_t index, uint32_t *flags,
			uint32_t *count);
/* Install eventfds (fd -1 clears) for vectors start..start+count-1. */
int hdiov_vfio_set_irq_eventfds(int device, uint32_t index, uint32_t start,
				uint32_t count, const int32_t *fds);
/* Disable every vector of an interrupt (DATA_NONE, count 0). */
int hdiov_vfio_disable_irq(int device, uint32_t index);
int hdiov_vfio_reset(int device);

int hdiov_vfio_dma_map(int container, void *vaddr, uint64_t iova,
		       uint64_t size);
/* The same, read-only for the device when @writable is 0 (no MAP_FLAG_WRITE). */
int hdiov_vfio_dma_map_prot(int container, void *vaddr, uint64_t iova,
			    uint64_t size, int writable);
int hdiov_vfio_dma_unmap(int container, uint64_t iova, uint64_t size);

/* An eventfd (non-blocking, close-on-exec), and a read of its counter. */
int hdiov_eventfd(void);
int hdiov_eventfd_read(int fd, uint64_t *value);

/*
 * VFIO migration v2 (VFIO_DEVICE_FEATURE). States as in the kernel's enum
 * vfio_device_mig_state; the PRE_COPY values are spelled out for older
 * userspace headers.
 */
#define HDIOV_MIG_STATE_ERROR		0
#define HDIOV_MIG_STATE_STOP		1
#define HDIOV_MIG_STATE_RUNNING		2
#define HDIOV_MIG_STATE_STOP_COPY	3
#define HDIOV_MIG_STATE_RESUMING	4
#define HDIOV_MIG_STATE_RUNNING_P2P	5
#define HDIOV_MIG_STATE_PRE_COPY	6
#define HDIOV_MIG_STATE_PRE_COPY_P2P	7
#define HDIOV_MIG_FLAG_STOP_COPY	0x1
#define HDIOV_MIG_FLAG_P2P		0x2
#define HDIOV_MIG_FLAG_PRE_COPY		0x4
/* VFIO_DEVICE_FEATURE_MIGRATION: the flags the device offers. */
int hdiov_vfio_mig_flags(int device, uint64_t *flags);
/* MIG_DEVICE_STATE SET: *data_fd is the state file, or -1. */
int hdiov_vfio_mig_set_state(int device, uint32_t state, int *data_fd);
int hdiov_vfio_mig_get_state(int device, uint32_t *state);
/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (6.3+; -ENOTTY before). */
int hdiov_vfio_mig_data_size(int device, uint64_t *size);
/* VFIO_MIG_GET_PRECOPY_INFO on a saving file (6.2+). */
int hdiov_vfio_mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);

/* Type1 dirty page tracking of a container. */
int hdiov_vfio_dirty_start(int container);
int hdiov_vfio_dirty_stop(int container);
/* The dirty bitmap of [iova, iova + size) in pages of @pgsize, into @bitmap. */
int hdiov_vfio_dirty_bitmap(int container, uint64_t iova, uint64_t size,
			    uint64_t pgsize, uint64_t *bitmap,
			    uint64_t bitmap_bytes);

/* A raw ioctl with an argument buffer, for tests that send malformed input. */
int hdiov_vfio_raw_ioctl(int fd, unsigned long request, void *arg);

#endif
