// The Hopper (wgmma + TMA) prefill attention kernels of sm90_prefill_attention.cu, as
// the prefill_attention op calls them. The op owns every buffer; this header only
// describes them. Shapes outside sm90_prefill_supported() stay on the mma.sync kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/src/common.cuh"

namespace quadrant::kernels {

// Device pointers and scalars the kernel reads (passed by value).
struct Sm90PrefillArgs {
  const int32_t* tile_seq;  // [q tiles] sequence of each 128-row query tile, heaviest first
  const int32_t* tile_q0;   // [q tiles] its first row within the sequence's new tokens
  const int32_t* cu_q;      // [batch + 1] query token offsets
  const int32_t* cu_k;      // [batch + 1] key token offsets (prefix + new tokens)
  const int32_t* prefix;    // [batch] tokens already cached
  // fp8 only: scales (one per 64 tokens of a sequence and head) and the V^T layout.
  const float* q_scale;  // [scale rows][heads]
  const float* k_scale;  // [scale rows][kv_heads]
  const float* v_scale;
  const int32_t* cu_sq;    // [batch + 1] first scale row of each sequence's queries
  const int32_t* cu_sk;    // [batch + 1] and of its keys
  const int32_t* cu_kt;    // [batch + 1] V^T column offsets (each sequence padded to 128)
  const int32_t* kt_seq;   // [kt tiles] sequence of each 128-token V^T tile
  const int32_t* kt_tile;  // [kt tiles] its tile index within the sequence
  int heads, kv_heads;
  float scale_log2;  // log2(e) / sqrt(head_dim)
  bf16* out;         // [total_q][heads][v_head_dim]
};

struct Sm90PrefillProblem {
  bool fp8 = false;
  int head_dim = 0, v_head_dim = 0, heads = 0, kv_heads = 0;
  int64_t total_q = 0, total_k = 0;
  int q_tiles = 0;          // query tiles of plan::prefill_tile_rows() rows
  const void* q = nullptr;  // [total_q][heads][head_dim]
  const void* k = nullptr;  // [total_k][kv_heads][head_dim]
  const void* v = nullptr;  // [total_k][kv_heads][v_head_dim]
  void* vt = nullptr;       // fp8: [kv_heads][v_head_dim][kt_stride] scratch
  int64_t kt_stride = 0;    // fp8: padded token count of V^T (a multiple of 128)
  int kt_tiles = 0;         // fp8: 128-token tiles of V^T
  // 0: S, softmax, P.V in turn; 1: S of the next tile issued with P.V (FA3's
  // intra-warpgroup overlap); 2: 1 and the two consumer warpgroups in ping-pong; 3: 2
  // with a quarter of the exponentials on the FMA pipes (a MUFU-throughput experiment);
  // 4, 5 (fp8 only): 0, 1 with three consumer warpgroups, 192 query rows per CTA; 7: 0
  // without the wait for P.V (the next S queues behind it); 6 (fp8 only): 7 with three;
  // 8, 9 (fp8 only): 4 with a quarter / half of the exponentials by a cubic on the FMA pipes;
  // 10 (fp8 only): 4 with the three warpgroups' softmax in turns.
  int variant = 2;
  Sm90PrefillArgs args{};
};

// Which shapes and variants run here, and the query rows per CTA: kernels/plan/dispatch.h.
// Enqueues the step (fp8: the V transpose, then attention). Graph-capturable.
void sm90_prefill_launch(const Sm90PrefillProblem& problem, cudaStream_t stream);
// The key permutation within 32 tokens that the fp8 V^T layout uses (for tests).
int sm90_prefill_perm32(int l);

}  // namespace quadrant::kernels
