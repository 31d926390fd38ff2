// SPDX-License-Identifier: Apache-2.0
// Writing a kernel once for every backend: a hierarchical launch whose teams stage a tile in
// scratch memory, synchronise, and write it back reversed. The same body runs with one thread per
// team on a CPU, with real barriers under the Serial backend's GPU emulation, and as a CUDA/HIP
// block when compiled by a device compiler.
#include <cstdio>

#include <portml/portml.hpp>

namespace {

struct ReverseTiles {
  portml::TensorView<const int, 1> in;
  portml::TensorView<int, 1> out;
  portml::index_t tile;

  template <class Team>
  PORTML_HOST_DEVICE void operator()(const Team& team) const {
    int* s = portml::team_scratch<int>(team);
    const portml::index_t base = team.league_rank() * tile;
    for (portml::index_t i : portml::team_elements(team, tile)) s[i] = in(base + i);
    team.barrier();
    for (portml::index_t i : portml::team_elements(team, tile)) out(base + i) = s[tile - 1 - i];
  }
};

}  // namespace

int main() {
  constexpr portml::index_t n = 12, tile = 4;
  portml::Tensor<int, 1> in({n}), out({n});
  for (portml::index_t i = 0; i < n; ++i) in(i) = static_cast<int>(i);
  // Teams of 4 threads on fibers: the GPU code path, checked on a CPU.
  portml::Queue<portml::backend::Serial> q(portml::Queue<portml::backend::Serial>::Options{.gpu_emulation = true});
  portml::launch(q, portml::LaunchConfig{n / tile, 4, tile * sizeof(int)}, ReverseTiles{in.view(), out.view(), tile});
  for (portml::index_t i = 0; i < n; ++i) std::printf("%d ", out(i));
  std::printf("\n");  // 3 2 1 0 7 6 5 4 11 10 9 8
  return out(0) == 3 && out(11) == 8 ? 0 : 1;
}
