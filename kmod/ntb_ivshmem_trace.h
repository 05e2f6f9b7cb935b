/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of ntb_hw_ivshmem: doorbells and messages sent and received,
 * link changes. In the guest:
 *
 *   echo 1 > /sys/kernel/tracing/events/ntb_hw_ivshmem/enable
 *   cat /sys/kernel/tracing/trace_pipe
 *
 * Every event names the local port: two devices of one guest (loopback)
 * are told apart by it. ivshm_db_recv fires where the poller (woken by
 * the interrupt handler in interrupt mode) hands the doorbell to the NTB
 * core: its timestamp minus the sender's is the notification latency.
 * ivshm_msg_recv fires when the driver first copies a FULL register,
 * which may also happen in a client's msg_read_sts()/msg_read() call, or
 * for a masked register.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM ntb_hw_ivshmem

#if !defined(_NTB_IVSHMEM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _NTB_IVSHMEM_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(ivshm_db_send,
	    TP_PROTO(u32 port, u32 peer_port, u64 bits, int ret),
	    TP_ARGS(port, peer_port, bits, ret),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u32, peer_port)
			     __field(u64, bits)
			     __field(int, ret)),
	    TP_fast_assign(__entry->port = port;
			   __entry->peer_port = peer_port;
			   __entry->bits = bits;
			   __entry->ret = ret;),
	    TP_printk("port=%u peer_port=%u bits=%#llx ret=%d",
		      __entry->port, __entry->peer_port,
		      (unsigned long long)__entry->bits, __entry->ret)
);

/* unmasked bits newly pending, handed to the NTB core as one db event */
TRACE_EVENT(ivshm_db_recv,
	    TP_PROTO(u32 port, u64 bits),
	    TP_ARGS(port, bits),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u64, bits)),
	    TP_fast_assign(__entry->port = port;
			   __entry->bits = bits;),
	    TP_printk("port=%u bits=%#llx", __entry->port,
		      (unsigned long long)__entry->bits)
);

/* the set of peers (pidx bits) whose link is up changed */
TRACE_EVENT(ivshm_link,
	    TP_PROTO(u32 port, u64 old_mask, u64 new_mask),
	    TP_ARGS(port, old_mask, new_mask),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u64, old_mask)
			     __field(u64, new_mask)),
	    TP_fast_assign(__entry->port = port;
			   __entry->old_mask = old_mask;
			   __entry->new_mask = new_mask;),
	    TP_printk("port=%u peers_up=%#llx was=%#llx %s", __entry->port,
		      (unsigned long long)__entry->new_mask,
		      (unsigned long long)__entry->old_mask,
		      __entry->new_mask & ~__entry->old_mask ? "up" : "down")
);

/*
 * ntb_link_event() delivered, with peers_up as it now stands. held_us: how
 * long the event of our own link disable was held past the change
 * (ivshm_report_delay_ns()); 0 for an event delivered as the link changed.
 */
TRACE_EVENT(ivshm_link_event,
	    TP_PROTO(u32 port, u64 mask, u64 held_us),
	    TP_ARGS(port, mask, held_us),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u64, mask)
			     __field(u64, held_us)),
	    TP_fast_assign(__entry->port = port;
			   __entry->mask = mask;
			   __entry->held_us = held_us;),
	    TP_printk("port=%u peers_up=%#llx held_us=%llu", __entry->port,
		      (unsigned long long)__entry->mask,
		      (unsigned long long)__entry->held_us)
);

/* a gap in our own timing: we did not run for gap_us */
DECLARE_EVENT_CLASS(ivshm_gap,
		    TP_PROTO(u32 port, u64 gap_us),
		    TP_ARGS(port, gap_us),
		    TP_STRUCT__entry(__field(u32, port)
				     __field(u64, gap_us)),
		    TP_fast_assign(__entry->port = port;
				   __entry->gap_us = gap_us;),
		    TP_printk("port=%u gap_us=%llu", __entry->port,
			      (unsigned long long)__entry->gap_us)
);

/*
 * Our heartbeat timer fired gap_us after the previous beat, more than
 * twice heartbeat_ms: the guest did not run (a stopped or starved VM) or
 * ran with interrupts off. A peer times us out after link_timeout_ms.
 */
DEFINE_EVENT(ivshm_gap, ivshm_hb_late,
	     TP_PROTO(u32 port, u64 gap_us),
	     TP_ARGS(port, gap_us)
);

/*
 * Our housekeeping came gap_us after the previous one, a missed heartbeat
 * late: we were not running, and do not count that time as our peers'
 * silence.
 */
DEFINE_EVENT(ivshm_gap, ivshm_away,
	     TP_PROTO(u32 port, u64 gap_us),
	     TP_ARGS(port, gap_us)
);

/*
 * We take a peer's link down: why (gone: the peer's slot says so,
 * released, link disabled, new epoch or link generation; silent: its
 * heartbeat stood still), how long ago we saw its heartbeat last move, and
 * for how much of that we were watching (the rest we were away).
 */
TRACE_EVENT(ivshm_peer_down,
	    TP_PROTO(u32 port, u32 peer_port, int silent, u64 still_us,
		     u64 watched_us),
	    TP_ARGS(port, peer_port, silent, still_us, watched_us),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u32, peer_port)
			     __field(int, silent)
			     __field(u64, still_us)
			     __field(u64, watched_us)),
	    TP_fast_assign(__entry->port = port;
			   __entry->peer_port = peer_port;
			   __entry->silent = silent;
			   __entry->still_us = still_us;
			   __entry->watched_us = watched_us;),
	    TP_printk("port=%u peer_port=%u reason=%s hb_still_us=%llu watched_us=%llu",
		      __entry->port, __entry->peer_port,
		      __entry->silent ? "silent" : "gone",
		      (unsigned long long)__entry->still_us,
		      (unsigned long long)__entry->watched_us)
);

/*
 * Protocol 1.4 link acks: we acked a peer's link generation toward us
 * (IVSHM_ACK_WIPED: zeroing its scratchpads first), or a peer acked ours
 * (IVSHM_ACK_SEEN).
 */
#ifndef IVSHM_ACK_SENT
#define IVSHM_ACK_SENT	0
#define IVSHM_ACK_WIPED	1
#define IVSHM_ACK_SEEN	2
#endif
TRACE_EVENT(ivshm_link_ack,
	    TP_PROTO(u32 port, u32 peer_port, u16 gen, int how),
	    TP_ARGS(port, peer_port, gen, how),
	    TP_STRUCT__entry(__field(u32, port)
			     __field(u32, peer_port)
			     __field(u16, gen)
			     __field(int, how)),
	    TP_fast_assign(__entry->port = port;
			   __entry->peer_port = peer_port;
			   __entry->gen = gen;
			   __entry->how = how;),
	    TP_printk("port=%u peer_port=%u gen=%u %s", __entry->port,
		      __entry->peer_port, __entry->gen,
		      __entry->how == IVSHM_ACK_SEEN ? "seen" :
		      __entry->how == IVSHM_ACK_WIPED ? "acked, wiped" :
		      "acked")
);

DECLARE_EVENT_CLASS(ivshm_msg,
		    TP_PROTO(u32 port, u32 peer_port, int midx, u32 data,
			     int ret),
		    TP_ARGS(port, peer_port, midx, data, ret),
		    TP_STRUCT__entry(__field(u32, port)
				     __field(u32, peer_port)
				     __field(int, midx)
				     __field(u32, data)
				     __field(int, ret)),
		    TP_fast_assign(__entry->port = port;
				   __entry->peer_port = peer_port;
				   __entry->midx = midx;
				   __entry->data = data;
				   __entry->ret = ret;),
		    TP_printk("port=%u peer_port=%u msg=%d data=%#x ret=%d",
			      __entry->port, __entry->peer_port, __entry->midx,
			      __entry->data, __entry->ret)
);

/* peer_msg_write(): ret is its return value (-EBUSY: register still full) */
DEFINE_EVENT(ivshm_msg, ivshm_msg_send,
	     TP_PROTO(u32 port, u32 peer_port, int midx, u32 data, int ret),
	     TP_ARGS(port, peer_port, midx, data, ret)
);

/*
 * A FULL inbound register copied from a known peer (ret 0), or dropped
 * (ret -EINVAL) because its sender is no peer of ours (peer_port: the
 * sender field the writer put there) or it could not be read (peer_port
 * 0xffffffff).
 */
DEFINE_EVENT(ivshm_msg, ivshm_msg_recv,
	     TP_PROTO(u32 port, u32 peer_port, int midx, u32 data, int ret),
	     TP_ARGS(port, peer_port, midx, data, ret)
);

#endif /* _NTB_IVSHMEM_TRACE_H */

/* out of tree and in drivers/ntb/hw/ivshmem/ alike: next to the source */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE ntb_ivshmem_trace
#include <trace/define_trace.h>
