// DeepStream nvinfer bounding-box parser for edgemnv2 detection bundles (SSDLite-MobileNetV2).
//
// The model's outputs (docs/bundle.md): "boxes" (N, 4) normalised xyxy, already decoded, and "scores"
// (N, C) softmax over background (class 0) + classes. For each anchor this keeps the best
// non-background class whose score passes nvinfer's pre-cluster threshold for that class; nvinfer
// then clusters (cluster-mode=2: NMS) as configured in config_infer_primary.txt.
//
// Build on the device: make   (needs DeepStream's sources/includes; see Makefile)
#include <cstring>
#include <vector>

#include "nvdsinfer_custom_impl.h"

static const NvDsInferLayerInfo *find_layer(std::vector<NvDsInferLayerInfo> const &layers, const char *name) {
  for (auto const &l : layers)
    if (l.layerName && std::strcmp(l.layerName, name) == 0) return &l;
  return nullptr;
}

extern "C" bool NvDsInferParseEdgemnv2(std::vector<NvDsInferLayerInfo> const &outputLayersInfo,
                                       NvDsInferNetworkInfo const &networkInfo,
                                       NvDsInferParseDetectionParams const &detectionParams,
                                       std::vector<NvDsInferObjectDetectionInfo> &objectList) {
  const NvDsInferLayerInfo *boxes = find_layer(outputLayersInfo, "boxes");
  const NvDsInferLayerInfo *scores = find_layer(outputLayersInfo, "scores");
  if (!boxes || !scores || scores->inferDims.numDims < 2) return false;
  const unsigned int anchors = scores->inferDims.d[0];
  const unsigned int classes = scores->inferDims.d[1];
  const float *b = static_cast<const float *>(boxes->buffer);
  const float *s = static_cast<const float *>(scores->buffer);
  const float w = static_cast<float>(networkInfo.width), h = static_cast<float>(networkInfo.height);
  for (unsigned int a = 0; a < anchors; ++a) {
    unsigned int best = 0;
    float best_score = 0.0f;
    for (unsigned int c = 1; c < classes; ++c) {
      if (s[a * classes + c] > best_score) {
        best_score = s[a * classes + c];
        best = c;
      }
    }
    if (best == 0 || best >= detectionParams.perClassPreclusterThreshold.size() ||
        best_score < detectionParams.perClassPreclusterThreshold[best])
      continue;
    const float *p = b + 4 * a;
    NvDsInferObjectDetectionInfo o;
    o.classId = best;
    o.left = p[0] * w;
    o.top = p[1] * h;
    o.width = (p[2] - p[0]) * w;
    o.height = (p[3] - p[1]) * h;
    o.detectionConfidence = best_score;
    if (o.width > 0 && o.height > 0) objectList.push_back(o);
  }
  return true;
}

CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseEdgemnv2);
