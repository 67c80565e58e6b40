package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UpdateFeatures: v0-2
//
// The feature levels Rewind runs are fixed (features in
// 18_api_versions.go: group.version 1, transaction.version 2): the code
// has one behaviour for each, so no level can be changed on a running
// node. Each update is checked as Kafka's controller checks it
// (FeatureControlManager.updateFeature), in request order, and the first
// that fails fails the request:
//
//   - an upgrade type other than 1 (upgrade), 2 (safe downgrade) or 3
//     (unsafe downgrade): "The controller does not support the given
//     upgrade type." (v0 has none: every update is an upgrade, its
//     AllowDowngrade ignored, as Kafka 4.4 takes it);
//   - a level below 0: "A feature version cannot be less than 0.";
//   - a feature Rewind does not have (streams.version,
//     metadata.version, anything else): "Local controller N does not
//     support this feature.", N being --node-id;
//   - a level outside the feature's supported range: "Local controller N
//     only supports versions MIN-MAX";
//   - a lower level with upgrade type 1, or a higher one with 2 or 3, as
//     Kafka words them;
//   - otherwise a level other than the one running: Kafka would finalize
//     it; Rewind cannot, and says so ("Rewind runs only level L of this
//     feature"), with validate_only too, so a dry run never promises what
//     the change would refuse.
//
// Each failure is INVALID_UPDATE_VERSION with "Invalid update version V
// for feature F. " and the reason, behind Kafka's "The update failed for
// all features since the following feature had an error: ", and no
// per-feature results. An update to the level running is nothing to do:
// NONE, with one result per update at v0-1 (v2 has none), as Kafka
// answers a change it made. With --authorizer, ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED, as ControllerApis checks it.

func init() {
	regKey(57, 0, 2, handleUpdateFeatures)
	regAuth(57, clusterCheck(kmsg.ACLOperationAlter, func(r *kmsg.UpdateFeaturesResponse, code int16) { r.ErrorCode = code }))
}

// Kafka's FeatureUpdate.UpgradeType codes.
const (
	upgradeTypeUpgrade         = 1
	upgradeTypeSafeDowngrade   = 2
	upgradeTypeUnsafeDowngrade = 3
)

// featureUpdateError is why update u of req cannot be made, or "" if it
// is nothing to do.
func featureUpdateError(node int32, version int16, u kmsg.UpdateFeaturesRequestFeatureUpdate) string {
	typ := u.UpgradeType
	if version == 0 {
		// v0 has no upgrade type, and Kafka 4.4's controller reads the
		// field's default (upgrade), whatever AllowDowngrade says.
		typ = upgradeTypeUpgrade
	}
	invalid := func(reason string) string {
		return fmt.Sprintf("Invalid update version %d for feature %s. %s", u.MaxVersionLevel, u.Feature, reason)
	}
	if typ < upgradeTypeUpgrade || typ > upgradeTypeUnsafeDowngrade {
		return invalid("The controller does not support the given upgrade type.")
	}
	if u.MaxVersionLevel < 0 {
		return invalid("A feature version cannot be less than 0.")
	}
	var f *feature
	for i := range features {
		if features[i].name == u.Feature {
			f = &features[i]
		}
	}
	if f == nil {
		return invalid(fmt.Sprintf("Local controller %d does not support this feature.", node))
	}
	if u.MaxVersionLevel < f.min || u.MaxVersionLevel > f.max {
		return invalid(fmt.Sprintf("Local controller %d only supports versions %d-%d", node, f.min, f.max))
	}
	switch {
	case u.MaxVersionLevel < f.level && typ == upgradeTypeUpgrade:
		return invalid("Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
	case u.MaxVersionLevel > f.level && typ != upgradeTypeUpgrade:
		return invalid("Can't downgrade to a newer version.")
	case u.MaxVersionLevel != f.level:
		return invalid(fmt.Sprintf("Rewind runs only level %d of this feature: its levels cannot be changed.", f.level))
	}
	return ""
}

func handleUpdateFeatures(r *request) (reply, error) {
	req := r.kreq.(*kmsg.UpdateFeaturesRequest)
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	var n respSize
	n.elems(len(req.FeatureUpdates), sizeOf[kmsg.UpdateFeaturesResponseResult](), 8)
	for _, u := range req.FeatureUpdates {
		n.str(2*len(u.Feature) + 200) // in a result, and in the message
	}
	if err := r.reserveResponse("UpdateFeatures", n); err != nil {
		return reply{}, err
	}
	for _, u := range req.FeatureUpdates {
		if msg := featureUpdateError(r.c.b.cfg.NodeID, req.Version, u); msg != "" {
			resp.ErrorCode = kerr.InvalidUpdateVersion.Code
			resp.ErrorMessage = strp("The update failed for all features since the following feature had an error: " + msg)
			return now(resp)
		}
	}
	if req.Version <= 1 {
		for _, u := range req.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature = u.Feature
			resp.Results = append(resp.Results, res)
		}
	}
	return now(resp)
}
