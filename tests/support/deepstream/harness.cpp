// Runs the parser on raw float32 outputs read from files: harness BOXES SCORES ANCHORS CLASSES W H THRESH
// and prints one detection per line: class score left top width height.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nvdsinfer_custom_impl.h"

extern "C" bool NvDsInferParseEdgemnv2(std::vector<NvDsInferLayerInfo> const &, NvDsInferNetworkInfo const &,
                                       NvDsInferParseDetectionParams const &,
                                       std::vector<NvDsInferObjectDetectionInfo> &);

static std::vector<float> read_floats(const char *path, size_t n) {
  std::vector<float> v(n);
  FILE *f = std::fopen(path, "rb");
  if (!f || std::fread(v.data(), sizeof(float), n, f) != n) std::exit(2);
  std::fclose(f);
  return v;
}

int main(int argc, char **argv) {
  if (argc != 8) return 2;
  unsigned int anchors = std::atoi(argv[3]), classes = std::atoi(argv[4]);
  std::vector<float> boxes = read_floats(argv[1], anchors * 4), scores = read_floats(argv[2], anchors * classes);
  NvDsInferLayerInfo b{}, s{};
  b.layerName = "boxes";
  b.buffer = boxes.data();
  b.inferDims.numDims = 2;
  b.inferDims.d[0] = anchors;
  b.inferDims.d[1] = 4;
  s.layerName = "scores";
  s.buffer = scores.data();
  s.inferDims.numDims = 2;
  s.inferDims.d[0] = anchors;
  s.inferDims.d[1] = classes;
  NvDsInferNetworkInfo net{(unsigned)std::atoi(argv[5]), (unsigned)std::atoi(argv[6]), 3};
  NvDsInferParseDetectionParams params;
  params.numClassesConfigured = classes;
  params.perClassPreclusterThreshold.assign(classes, (float)std::atof(argv[7]));
  std::vector<NvDsInferObjectDetectionInfo> out;
  if (!NvDsInferParseEdgemnv2({s, b}, net, params, out)) return 1;
  for (auto const &o : out)
    std::printf("%u %.6f %.4f %.4f %.4f %.4f\n", o.classId, o.detectionConfidence, o.left, o.top, o.width, o.height);
  return 0;
}
