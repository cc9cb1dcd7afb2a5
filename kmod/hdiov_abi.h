/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * HD-IOV device ABI: every number of the device contract (docs/hdiov-device.md)
 * that a driver, the host module or a client needs, and nothing else. The one
 * copy: the host module, the C shim and Swift (through the C importer) all
 * include this file. Plain integer literals, so that Swift imports each macro
 * as a constant; usable from the kernel and from user space.
 */
#ifndef HDIOV_ABI_H
#define HDIOV_ABI_H

#include <linux/types.h>
#ifdef __KERNEL__
#include <linux/build_bug.h>
#include <linux/stddef.h>
#else
#include <assert.h>
#include <stddef.h>
#endif

/* Contract version: VERSION register, MODULE_VERSION, the parents' `version`. */
#define HDIOV_CONTRACT_MAJOR	1
#define HDIOV_CONTRACT_MINOR	0
#define HDIOV_VERSION_VALUE	0x00010000	/* MAJOR << 16 | MINOR */

/* PCI config space and BARs (contract section 4). */
#define HDIOV_CFG_SIZE		256
#define HDIOV_BAR0_SIZE		0x10000
#define HDIOV_DB_PAGE		4096

/* BAR0 registers (contract section 5). */
#define HDIOV_REG_ID		0x000
#define HDIOV_REG_VERSION	0x004
#define HDIOV_REG_CAPS		0x008
#define HDIOV_REG_NUM_QPS	0x00c
#define HDIOV_REG_MAX_RING	0x010
#define HDIOV_REG_MAX_XFER	0x014
#define HDIOV_REG_DEV_CTRL	0x018
#define HDIOV_REG_DEV_STATUS	0x01c
#define HDIOV_REG_KICK		0x020
#define HDIOV_REG_QP_BASE	0x1000
#define HDIOV_REG_QP_STRIDE	0x40
#define HDIOV_MSIX_TABLE	0x8000
#define HDIOV_MSIX_PBA		0xa000
#define HDIOV_MSIX_ENTRY_SIZE	16

#define HDIOV_ID_VALUE		0x48444956	/* "HDIV" */

#define HDIOV_CAPS_COPY		0x001
#define HDIOV_CAPS_FILL		0x002
#define HDIOV_CAPS_CRC32C	0x004
#define HDIOV_CAPS_COMPARE	0x008
#define HDIOV_CAPS_NOTIFY_SUPPRESS	0x100

#define HDIOV_DEV_CTRL_ENABLE	0x00000001
#define HDIOV_DEV_CTRL_RESET	0x80000000
#define HDIOV_DEV_STATUS_ENABLED	0x00000001
#define HDIOV_DEV_STATUS_FATAL	0x00000002

/* Offsets inside one QP block. */
#define HDIOV_QP_SQ_BASE_LO	0x00
#define HDIOV_QP_SQ_BASE_HI	0x04
#define HDIOV_QP_CQ_BASE_LO	0x08
#define HDIOV_QP_CQ_BASE_HI	0x0c
#define HDIOV_QP_RING_SIZE	0x10
#define HDIOV_QP_CTRL		0x14
#define HDIOV_QP_STATUS		0x18
#define HDIOV_QP_MSIX_VECTOR	0x1c
#define HDIOV_QP_SQ_HEAD	0x20
#define HDIOV_QP_CQ_TAIL	0x24
#define HDIOV_QP_IRQ_COALESCE	0x28

#define HDIOV_QP_CTRL_ENABLE	0x00000001
#define HDIOV_QP_CTRL_IRQ_ENABLE	0x00000002
#define HDIOV_QP_CTRL_RESET	0x80000000
#define HDIOV_QP_STATUS_ENABLED	0x00000001
#define HDIOV_QP_STATUS_ERROR	0x00000002
#define HDIOV_QP_STATUS_CODE_SHIFT	16

/* QP_STATUS error codes (bits 16-31; contract section 9). */
#define HDIOV_QP_ERR_SQ_FAULT	1	/* SQ ring unreadable */
#define HDIOV_QP_ERR_CQ_FAULT	2	/* CQ ring unwritable */
#define HDIOV_QP_ERR_SQ_TAIL	3	/* SQ_TAIL more than RING_SIZE ahead */

/* Ring bases: SQ entries 64-byte aligned, CQ entries 16-byte aligned. */
#define HDIOV_SQ_ALIGN		64
#define HDIOV_CQ_ALIGN		16
#define HDIOV_MIN_RING		2

/* Doorbell page layout (contract section 6). */
#define HDIOV_DB_SQ_TAIL	0x00
#define HDIOV_DB_CQ_HEAD	0x04
#define HDIOV_DB_ENGINE_FLAGS	0x40
#define HDIOV_DB_NEED_KICK	0x00000001

/* Interrupt vectors: 0 device events, 1 + i completions of QP i. */
#define HDIOV_MSIX_DEV_VECTOR	0
#define HDIOV_MSIX_QP_VECTOR_BASE	1

/* Descriptors and completions (contract section 7). */
#define HDIOV_SQE_SIZE		64
#define HDIOV_CQE_SIZE		16
#define HDIOV_SQE_IRQ		0x01
#define HDIOV_CQE_PHASE		0x0001

#define HDIOV_OP_NOP		0
#define HDIOV_OP_COPY		1
#define HDIOV_OP_FILL		2
#define HDIOV_OP_CRC32C		3
#define HDIOV_OP_COMPARE	4
#define HDIOV_NR_OPS		5

#define HDIOV_ST_OK		0
#define HDIOV_ST_BAD_OPCODE	1
#define HDIOV_ST_BAD_LENGTH	2
#define HDIOV_ST_DMA_FAULT	3
#define HDIOV_ST_ABORTED	4

/* VDEV sysfs attributes (contract section 3). */
#define HDIOV_WEIGHT_MIN	1
#define HDIOV_WEIGHT_MAX	100
#define HDIOV_WEIGHT_DEFAULT	10
#define HDIOV_PASID_MIN		1
#define HDIOV_PASID_MAX		0xfffff

/* A submission entry, little endian. */
struct hdiov_sqe {
	__u8 opcode;
	__u8 flags;		/* HDIOV_SQE_IRQ */
	__le16 rsvd;
	__le32 len;
	__le64 src;
	__le64 dst;
	__le64 pattern;		/* FILL: pattern; CRC32C: seed in the low 32 bits */
	__le64 cookie;
	__u8 rsvd2[24];
};

/* A completion entry, little endian. */
struct hdiov_cqe {
	__le64 cookie;
	__le32 result;
	__u8 status;		/* HDIOV_ST_* */
	__u8 rsvd;
	__le16 flags;		/* HDIOV_CQE_PHASE */
};

static_assert(sizeof(struct hdiov_sqe) == HDIOV_SQE_SIZE, "SQ entry is 64 bytes");
static_assert(offsetof(struct hdiov_sqe, len) == 4, "sqe.len at 4");
static_assert(offsetof(struct hdiov_sqe, src) == 8, "sqe.src at 8");
static_assert(offsetof(struct hdiov_sqe, dst) == 16, "sqe.dst at 16");
static_assert(offsetof(struct hdiov_sqe, pattern) == 24, "sqe.pattern at 24");
static_assert(offsetof(struct hdiov_sqe, cookie) == 32, "sqe.cookie at 32");
static_assert(sizeof(struct hdiov_cqe) == HDIOV_CQE_SIZE, "CQ entry is 16 bytes");
static_assert(offsetof(struct hdiov_cqe, result) == 8, "cqe.result at 8");
static_assert(offsetof(struct hdiov_cqe, status) == 12, "cqe.status at 12");
static_assert(offsetof(struct hdiov_cqe, flags) == 14, "cqe.flags at 14");
static_assert(!(HDIOV_VERSION_VALUE ^
		(HDIOV_CONTRACT_MAJOR << 16 | HDIOV_CONTRACT_MINOR)),
	      "VERSION is MAJOR.MINOR");
static_assert(HDIOV_REG_QP_BASE < HDIOV_MSIX_TABLE, "QP blocks before MSI-X");
static_assert(HDIOV_MSIX_TABLE < HDIOV_MSIX_PBA, "MSI-X table before the PBA");
static_assert(HDIOV_MSIX_PBA < HDIOV_BAR0_SIZE, "the PBA inside BAR0");

#endif /* HDIOV_ABI_H */
