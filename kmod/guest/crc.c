// SPDX-License-Identifier: GPL-2.0
/*
 * crc32c for the crypto API, computed by the device's CRC32C descriptors.
 *
 * The crypto API's crc32c keeps the raw CRC register (seed ~0, or the key)
 * and outputs its complement; the device chains on the complemented value
 * (seed 0 starts). So a request keeps the device's value, ~register, and
 * final() writes it as is. An update maps the request's scatterlist and
 * sends one descriptor per DMA segment (at most MAX_XFER bytes), each seeded
 * with the previous one's result. The kernel's crypto self-test checks the
 * transform when it registers (/proc/crypto: "selftest : passed").
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/internal/hash.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#ifdef HDIOV_HAVE_LINUX_UNALIGNED
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#include "guest.h"

static int crc32c_priority = 50;
module_param(crc32c_priority, int, 0444);
MODULE_PARM_DESC(crc32c_priority,
		 "crypto API priority of crc32c-" HDIOV_SPEC_MODULE
		 " (default 50, below crc32c-generic's 100: used when asked for by name; 0: not registered)");

#define HDG_CRC_DIGEST	4

struct hdg_crc_tfm {
	u32 key;		/* the raw register's start value */
};

struct hdg_crc_req {
	struct hdg_job job;
	struct hdg_dev *hd;
	struct ahash_request *req;
	u32 value;		/* device chain value: ~register */
	bool final;		/* write the digest when the data is done */
	int map_nents;		/* entries given to dma_map_sg */
	int nents;		/* entries it mapped, not yet sent */
	struct scatterlist *sg;	/* current mapped entry */
	unsigned int sg_off;	/* bytes of it already sent */
	unsigned int left;	/* bytes of the request not yet sent */
	u32 len;		/* bytes of the descriptor in flight */
};

/* Devices that serve crc32c, and whether the transform is registered. */
static LIST_HEAD(hdg_crc_devs);
static DEFINE_SPINLOCK(hdg_crc_lock);	/* hdg_crc_devs */
static DEFINE_MUTEX(hdg_crc_reg_lock);	/* hdg_crc_registered */
static bool hdg_crc_registered;

static struct hdg_dev *hdg_crc_get_dev(void)
{
	struct hdg_dev *hd;

	spin_lock_bh(&hdg_crc_lock);
	hd = list_first_entry_or_null(&hdg_crc_devs, struct hdg_dev, crc_node);
	if (hd) {
		/* Spread requests: the next one goes to the next device. */
		list_rotate_left(&hdg_crc_devs);
		atomic_inc(&hd->crc_users);
	}
	spin_unlock_bh(&hdg_crc_lock);
	return hd;
}

static void hdg_crc_put_dev(struct hdg_dev *hd)
{
	if (atomic_dec_and_test(&hd->crc_users))
		wake_up_all(&hd->crc_idle);
}

static void hdg_crc_fill(struct hdg_job *job, unsigned int i,
			 struct hdiov_sqe *sqe)
{
	struct hdg_crc_req *rc = container_of(job, struct hdg_crc_req, job);

	sqe->opcode = HDIOV_OP_CRC32C;
	sqe->len = cpu_to_le32(rc->len);
	sqe->src = cpu_to_le64(sg_dma_address(rc->sg) + rc->sg_off);
	sqe->pattern = cpu_to_le64(rc->value);
}

/* Queue the next descriptor; false when the data is done. */
static int hdg_crc_next(struct hdg_crc_req *rc)
{
	struct hdg_dev *hd = rc->hd;
	struct hdg_qp *qp;

	while (rc->sg && rc->sg_off >= sg_dma_len(rc->sg)) {
		rc->sg = --rc->nents > 0 ? sg_next(rc->sg) : NULL;
		rc->sg_off = 0;
	}
	if (!rc->left || !rc->sg)
		return rc->left ? -EINVAL : 0;
	rc->len = min3(sg_dma_len(rc->sg) - rc->sg_off, rc->left, hd->max_xfer);
	qp = &hd->qps[atomic_inc_return(&hd->crc_next) % hd->nr_used];
	rc->job.nr_sqe = 1;
	rc->job.fill = hdg_crc_fill;
	return hdg_qp_queue(qp, &rc->job) ?: -EINPROGRESS;
}

static void hdg_crc_finish(struct hdg_crc_req *rc, int err)
{
	struct ahash_request *req = rc->req;

	dma_unmap_sg(&rc->hd->pdev->dev, req->src, rc->map_nents, DMA_TO_DEVICE);
	hdg_crc_put_dev(rc->hd);
	if (!err && rc->final)
		put_unaligned_le32(rc->value, req->result);
	ahash_request_complete(req, err);
}

static void hdg_crc_complete(struct hdg_job *job)
{
	struct hdg_crc_req *rc = container_of(job, struct hdg_crc_req, job);
	int ret;

	if (job->status != HDIOV_ST_OK) {
		dev_dbg(&rc->hd->pdev->dev, "crc32c: status %u\n", job->status);
		hdg_crc_finish(rc, -EIO);
		return;
	}
	rc->value = job->result;
	rc->sg_off += rc->len;
	rc->left -= rc->len;
	ret = hdg_crc_next(rc);
	if (ret != -EINPROGRESS)
		hdg_crc_finish(rc, ret);
}

/* Start sending the request's data; 0 when there is none. */
static int hdg_crc_update_common(struct ahash_request *req, bool final)
{
	struct hdg_crc_req *rc = ahash_request_ctx(req);
	int nents, ret;

	rc->final = final;
	if (!req->nbytes)
		goto done;
	nents = sg_nents_for_len(req->src, req->nbytes);
	if (nents < 0)
		return nents;
	rc->hd = hdg_crc_get_dev();
	if (!rc->hd)
		return -ENODEV;
	rc->req = req;
	rc->job.complete = hdg_crc_complete;
	rc->map_nents = nents;
	rc->nents = dma_map_sg(&rc->hd->pdev->dev, req->src, nents,
			       DMA_TO_DEVICE);
	if (!rc->nents) {
		hdg_crc_put_dev(rc->hd);
		return -ENOMEM;
	}
	rc->sg = req->src;
	rc->sg_off = 0;
	rc->left = req->nbytes;
	ret = hdg_crc_next(rc);
	if (ret == -EINPROGRESS)
		return ret;
	dma_unmap_sg(&rc->hd->pdev->dev, req->src, nents, DMA_TO_DEVICE);
	hdg_crc_put_dev(rc->hd);
	if (ret)
		return ret;
done:
	if (final)
		put_unaligned_le32(rc->value, req->result);
	return 0;
}

static int hdg_crc_init(struct ahash_request *req)
{
	struct hdg_crc_tfm *ctx = crypto_ahash_ctx(crypto_ahash_reqtfm(req));
	struct hdg_crc_req *rc = ahash_request_ctx(req);

	rc->value = ~ctx->key;
	return 0;
}

static int hdg_crc_update(struct ahash_request *req)
{
	return hdg_crc_update_common(req, false);
}

static int hdg_crc_final(struct ahash_request *req)
{
	struct hdg_crc_req *rc = ahash_request_ctx(req);

	put_unaligned_le32(rc->value, req->result);
	return 0;
}

static int hdg_crc_finup(struct ahash_request *req)
{
	return hdg_crc_update_common(req, true);
}

static int hdg_crc_digest(struct ahash_request *req)
{
	hdg_crc_init(req);
	return hdg_crc_finup(req);
}

static int hdg_crc_export(struct ahash_request *req, void *out)
{
	struct hdg_crc_req *rc = ahash_request_ctx(req);

	memcpy(out, &rc->value, sizeof(rc->value));
	return 0;
}

static int hdg_crc_import(struct ahash_request *req, const void *in)
{
	struct hdg_crc_req *rc = ahash_request_ctx(req);

	memcpy(&rc->value, in, sizeof(rc->value));
	return 0;
}

static int hdg_crc_setkey(struct crypto_ahash *tfm, const u8 *key,
			  unsigned int keylen)
{
	struct hdg_crc_tfm *ctx = crypto_ahash_ctx(tfm);

	if (keylen != sizeof(u32))
		return -EINVAL;
	ctx->key = get_unaligned_le32(key);
	return 0;
}

static int hdg_crc_init_tfm(struct crypto_ahash *tfm)
{
	struct hdg_crc_tfm *ctx = crypto_ahash_ctx(tfm);

	ctx->key = ~0U;
	crypto_ahash_set_reqsize(tfm, sizeof(struct hdg_crc_req));
	return 0;
}

static struct ahash_alg hdg_crc_alg = {
	.init = hdg_crc_init,
	.update = hdg_crc_update,
	.final = hdg_crc_final,
	.finup = hdg_crc_finup,
	.digest = hdg_crc_digest,
	.export = hdg_crc_export,
	.import = hdg_crc_import,
	.setkey = hdg_crc_setkey,
	.init_tfm = hdg_crc_init_tfm,
	.halg = {
		.digestsize = HDG_CRC_DIGEST,
		.statesize = sizeof(u32),
		.base = {
			.cra_name = "crc32c",
			.cra_driver_name = "crc32c-" HDIOV_SPEC_MODULE,
			.cra_flags = CRYPTO_ALG_ASYNC | CRYPTO_ALG_OPTIONAL_KEY |
				     CRYPTO_ALG_KERN_DRIVER_ONLY,
			.cra_blocksize = 1,
			.cra_ctxsize = sizeof(struct hdg_crc_tfm),
			.cra_module = THIS_MODULE,
		},
	},
};

static bool hdg_crc_serves(struct hdg_dev *hd)
{
	return (hd->caps & HDIOV_CAPS_CRC32C) && crc32c_priority > 0;
}

/*
 * A device with CRC32C serves the transform; the first such device
 * registers it (and so runs the self-test), module exit unregisters it.
 */
int hdg_crc_add(struct hdg_dev *hd)
{
	int ret = 0;

	if (!hdg_crc_serves(hd))
		return 0;
	init_waitqueue_head(&hd->crc_idle);
	spin_lock_bh(&hdg_crc_lock);
	list_add_tail(&hd->crc_node, &hdg_crc_devs);
	spin_unlock_bh(&hdg_crc_lock);

	mutex_lock(&hdg_crc_reg_lock);
	if (!hdg_crc_registered) {
		hdg_crc_alg.halg.base.cra_priority = crc32c_priority;
		ret = crypto_register_ahash(&hdg_crc_alg);
		if (ret)
			dev_err(&hd->pdev->dev, "cannot register crc32c-%s: %d\n",
				HDIOV_SPEC_MODULE, ret);
		else
			hdg_crc_registered = true;
	}
	mutex_unlock(&hdg_crc_reg_lock);
	return ret;
}

/* Stop giving @hd new requests and wait for those it has (QPs stopped). */
void hdg_crc_remove(struct hdg_dev *hd)
{
	if (!hdg_crc_serves(hd))
		return;
	spin_lock_bh(&hdg_crc_lock);
	list_del_init(&hd->crc_node);
	spin_unlock_bh(&hdg_crc_lock);
}

void hdg_crc_wait(struct hdg_dev *hd)
{
	if (!hdg_crc_serves(hd))
		return;
	wait_event(hd->crc_idle, !atomic_read(&hd->crc_users));
}

void hdg_crc_exit(void)
{
	mutex_lock(&hdg_crc_reg_lock);
	if (hdg_crc_registered)
		crypto_unregister_ahash(&hdg_crc_alg);
	hdg_crc_registered = false;
	mutex_unlock(&hdg_crc_reg_lock);
}
