// MLA decode attention (DeepSeek-V2/V3, weight-absorbed) as a launch function on
// CALLER-owned device buffers, with quadrant_kernels.h's conventions (row-major, 16-byte
// aligned pointers, a workspace of at least mla_decode_workspace_bytes(), only enqueues on
// the stream, std::invalid_argument on a bad problem before anything is enqueued).
//
// One query token per sequence. Every head h of sequence b scores every cached token t of
// b with the whole 576-wide row: s = scale x (q_latent . c_kv + q_rope . k_rope), and
// out[b][h] = softmax_t(s) . c_kv (512 wide). The latent cache is shared by all heads: a
// CTA takes up to 64 heads (the M dimension of its mma.sync tiles), so a 32-token KV tile
// is read once per CTA; long sequences are split over CTAs (flash decoding) and merged by
// their log-sum-exp (kernels/plan/mla_decode_plan.h chooses the split count).
#pragma once

#include <cstddef>
#include <cstdint>

// cuda_runtime.h's stream handle, declared as it declares it, so that this header needs no
// CUDA include path.
struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;  // NOLINT(modernize-use-using)

namespace quadrant::kernels {

struct MlaDecodeProblem {
  int batch = 0;          // sequences (a graph bucket's size: padded ones have length 0)
  int heads = 0;          // query heads on this GPU (128 / TP), a multiple of 16
  int block_tokens = 64;  // tokens per cache page
  int max_blocks = 0;     // row stride of the block table
  // Host upper bound of every kv_lens[b]: sets the split count (lengths read on the device).
  int max_kv_len = 0;
  // 0: 1 / sqrt(192), DeepSeek-V3's (qk_nope 128 + qk_rope 64)^-1/2 without YaRN's mscale.
  float softmax_scale = 0;
  // 0: the split count of mla_decode_split's heuristic; n > 0: n splits of the longest
  // sequence (benchmark comparison).
  int splits = 0;
};
struct MlaDecodeBuffers {
  const void* q = nullptr;  // BF16 [batch][heads][576]: absorbed q_latent (512), then q_rope (64)
  const void* kv_cache = nullptr;  // BF16 [pages][block_tokens][576]: c_kv (512), then k_rope (64)
  const int32_t* block_table = nullptr;  // [batch][max_blocks]: page of token t: entry t / block
  const int32_t* kv_lens = nullptr;      // [batch], each in [0, max_kv_len]; 0 writes zeros
  void* out = nullptr;                   // BF16 [batch][heads][512]
  void* workspace = nullptr;             // mla_decode_workspace_bytes()
};
size_t mla_decode_workspace_bytes(const MlaDecodeProblem& problem);
// Graph-capturable.
void mla_decode(const MlaDecodeProblem& problem, const MlaDecodeBuffers& buffers,
                cudaStream_t stream);

}  // namespace quadrant::kernels
