/*eslint-disable block-scoped-var, id-length, no-control-regex, no-magic-numbers, no-mixed-operators, no-prototype-builtins, no-redeclare, no-shadow, no-var, sort-vars, default-case, jsdoc/require-param*/
"use strict";

var $protobuf = require("protobufjs/minimal");

// Common aliases
var $Reader = $protobuf.Reader, $Writer = $protobuf.Writer, $util = $protobuf.util;
var $Object = $util.global.Object, $undefined = $util.global.undefined, $Error = $util.global.Error, $RangeError = $util.global.RangeError;

// Exported root namespace
var $root = $protobuf.roots["egress-gateway"] || ($protobuf.roots["egress-gateway"] = {});

$root.felix = (function() {

    /**
     * Namespace felix.
     * @exports felix
     * @namespace
     */
    var felix = {};

    felix.SyncRequest = (function() {

        /**
         * Properties of a SyncRequest.
         * @typedef {Object} felix.SyncRequest.$Properties
         * @property {boolean|null} [supports_drop_action_override] SyncRequest supports_drop_action_override
         * @property {boolean|null} [supports_dataplane_stats] SyncRequest supports_dataplane_stats
         * @property {string|null} [subscription_type] SyncRequest subscription_type
         * @property {boolean|null} [supports_ipv6_route_updates] SyncRequest supports_ipv6_route_updates
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a SyncRequest.
         * @memberof felix
         * @interface ISyncRequest
         * @augments felix.SyncRequest.$Properties
         * @deprecated Use felix.SyncRequest.$Properties instead.
         */

        /**
         * Shape of a SyncRequest.
         * @typedef {felix.SyncRequest.$Properties} felix.SyncRequest.$Shape
         */

        /**
         * Constructs a new SyncRequest.
         * @memberof felix
         * @classdesc Represents a SyncRequest.
         * @constructor
         * @param {felix.SyncRequest.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var SyncRequest = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * SyncRequest supports_drop_action_override.
         * @member {boolean} supports_drop_action_override
         * @memberof felix.SyncRequest
         * @instance
         */
        SyncRequest.prototype.supports_drop_action_override = false;

        /**
         * SyncRequest supports_dataplane_stats.
         * @member {boolean} supports_dataplane_stats
         * @memberof felix.SyncRequest
         * @instance
         */
        SyncRequest.prototype.supports_dataplane_stats = false;

        /**
         * SyncRequest subscription_type.
         * @member {string} subscription_type
         * @memberof felix.SyncRequest
         * @instance
         */
        SyncRequest.prototype.subscription_type = "";

        /**
         * SyncRequest supports_ipv6_route_updates.
         * @member {boolean} supports_ipv6_route_updates
         * @memberof felix.SyncRequest
         * @instance
         */
        SyncRequest.prototype.supports_ipv6_route_updates = false;

        /**
         * Encodes the specified SyncRequest message. Does not implicitly {@link felix.SyncRequest.verify|verify} messages.
         * @function encode
         * @memberof felix.SyncRequest
         * @static
         * @param {felix.SyncRequest.$Properties} message SyncRequest message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        SyncRequest.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.supports_drop_action_override != null && $Object.hasOwnProperty.call(message, "supports_drop_action_override") && message.supports_drop_action_override !== false)
                writer.uint32(/* id 1, wireType 0 =*/8).bool(message.supports_drop_action_override);
            if (message.supports_dataplane_stats != null && $Object.hasOwnProperty.call(message, "supports_dataplane_stats") && message.supports_dataplane_stats !== false)
                writer.uint32(/* id 2, wireType 0 =*/16).bool(message.supports_dataplane_stats);
            if (message.subscription_type != null && $Object.hasOwnProperty.call(message, "subscription_type") && message.subscription_type !== "")
                writer.uint32(/* id 3, wireType 2 =*/26).string(message.subscription_type);
            if (message.supports_ipv6_route_updates != null && $Object.hasOwnProperty.call(message, "supports_ipv6_route_updates") && message.supports_ipv6_route_updates !== false)
                writer.uint32(/* id 100, wireType 0 =*/800).bool(message.supports_ipv6_route_updates);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a SyncRequest message from the specified reader or buffer.
         * @function decode
         * @memberof felix.SyncRequest
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.SyncRequest & felix.SyncRequest.$Shape} SyncRequest
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        SyncRequest.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.SyncRequest();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.supports_drop_action_override = value;
                        else
                            delete message.supports_drop_action_override;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.supports_dataplane_stats = value;
                        else
                            delete message.supports_dataplane_stats;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.subscription_type = value;
                        else
                            delete message.subscription_type;
                        continue;
                    }
                case 100: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.supports_ipv6_route_updates = value;
                        else
                            delete message.supports_ipv6_route_updates;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return SyncRequest;
    })();

    felix.ToDataplane = (function() {

        /**
         * Properties of a ToDataplane.
         * @typedef {Object} felix.ToDataplane.$Properties
         * @property {number|Long|null} [sequence_number] ToDataplane sequence_number
         * @property {felix.InSync.$Properties|null} [in_sync] ToDataplane in_sync
         * @property {felix.RouteUpdate.$Properties|null} [route_update] ToDataplane route_update
         * @property {felix.RouteRemove.$Properties|null} [route_remove] ToDataplane route_remove
         * @property {felix.VXLANTunnelEndpointUpdate.$Properties|null} [vtep_update] ToDataplane vtep_update
         * @property {felix.VXLANTunnelEndpointRemove.$Properties|null} [vtep_remove] ToDataplane vtep_remove
         * @property {"in_sync"|"route_update"|"route_remove"|"vtep_update"|"vtep_remove"} [payload] ToDataplane payload
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a ToDataplane.
         * @memberof felix
         * @interface IToDataplane
         * @augments felix.ToDataplane.$Properties
         * @deprecated Use felix.ToDataplane.$Properties instead.
         */

        /**
         * Narrowed shape of a ToDataplane.
         * @typedef {{
         *   sequence_number?: number|Long|null;
         *   in_sync?: felix.InSync.$Shape|null;
         *   route_update?: felix.RouteUpdate.$Shape|null;
         *   route_remove?: felix.RouteRemove.$Shape|null;
         *   vtep_update?: felix.VXLANTunnelEndpointUpdate.$Shape|null;
         *   vtep_remove?: felix.VXLANTunnelEndpointRemove.$Shape|null;
         *   $unknowns?: Array.<Uint8Array>;
         * } & (
         *   ({ payload?: undefined; in_sync?: null; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "in_sync"; in_sync: felix.InSync.$Shape; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "route_update"; in_sync?: null; route_update: felix.RouteUpdate.$Shape; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "route_remove"; in_sync?: null; route_update?: null; route_remove: felix.RouteRemove.$Shape; vtep_update?: null; vtep_remove?: null }|{ payload?: "vtep_update"; in_sync?: null; route_update?: null; route_remove?: null; vtep_update: felix.VXLANTunnelEndpointUpdate.$Shape; vtep_remove?: null }|{ payload?: "vtep_remove"; in_sync?: null; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove: felix.VXLANTunnelEndpointRemove.$Shape })
         * )} felix.ToDataplane.$Shape
         */

        /**
         * Constructs a new ToDataplane.
         * @memberof felix
         * @classdesc Represents a ToDataplane.
         * @constructor
         * @param {felix.ToDataplane.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var ToDataplane = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * ToDataplane sequence_number.
         * @member {number|Long} sequence_number
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.sequence_number = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

        /**
         * ToDataplane in_sync.
         * @member {felix.InSync.$Properties|null|undefined} in_sync
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.in_sync = null;

        /**
         * ToDataplane route_update.
         * @member {felix.RouteUpdate.$Properties|null|undefined} route_update
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.route_update = null;

        /**
         * ToDataplane route_remove.
         * @member {felix.RouteRemove.$Properties|null|undefined} route_remove
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.route_remove = null;

        /**
         * ToDataplane vtep_update.
         * @member {felix.VXLANTunnelEndpointUpdate.$Properties|null|undefined} vtep_update
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.vtep_update = null;

        /**
         * ToDataplane vtep_remove.
         * @member {felix.VXLANTunnelEndpointRemove.$Properties|null|undefined} vtep_remove
         * @memberof felix.ToDataplane
         * @instance
         */
        ToDataplane.prototype.vtep_remove = null;

        // OneOf field names bound to virtual getters and setters
        var $oneOfFields;

        /**
         * ToDataplane payload.
         * @member {"in_sync"|"route_update"|"route_remove"|"vtep_update"|"vtep_remove"|undefined} payload
         * @memberof felix.ToDataplane
         * @instance
         */
        $Object.defineProperty(ToDataplane.prototype, "payload", {
            get: $util.oneOfGetter($oneOfFields = ["in_sync", "route_update", "route_remove", "vtep_update", "vtep_remove"]),
            set: $util.oneOfSetter($oneOfFields)
        });

        /**
         * Encodes the specified ToDataplane message. Does not implicitly {@link felix.ToDataplane.verify|verify} messages.
         * @function encode
         * @memberof felix.ToDataplane
         * @static
         * @param {felix.ToDataplane.$Properties} message ToDataplane message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        ToDataplane.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.in_sync != null && $Object.hasOwnProperty.call(message, "in_sync"))
                $root.felix.InSync.encode(message.in_sync, writer.uint32(/* id 1, wireType 2 =*/10).fork(), _depth + 1).ldelim();
            if (message.sequence_number != null && $Object.hasOwnProperty.call(message, "sequence_number") && (typeof message.sequence_number === "object" ? message.sequence_number.low || message.sequence_number.high : message.sequence_number !== 0))
                writer.uint32(/* id 15, wireType 0 =*/120).uint64(message.sequence_number);
            if (message.route_update != null && $Object.hasOwnProperty.call(message, "route_update"))
                $root.felix.RouteUpdate.encode(message.route_update, writer.uint32(/* id 23, wireType 2 =*/186).fork(), _depth + 1).ldelim();
            if (message.route_remove != null && $Object.hasOwnProperty.call(message, "route_remove"))
                $root.felix.RouteRemove.encode(message.route_remove, writer.uint32(/* id 24, wireType 2 =*/194).fork(), _depth + 1).ldelim();
            if (message.vtep_update != null && $Object.hasOwnProperty.call(message, "vtep_update"))
                $root.felix.VXLANTunnelEndpointUpdate.encode(message.vtep_update, writer.uint32(/* id 25, wireType 2 =*/202).fork(), _depth + 1).ldelim();
            if (message.vtep_remove != null && $Object.hasOwnProperty.call(message, "vtep_remove"))
                $root.felix.VXLANTunnelEndpointRemove.encode(message.vtep_remove, writer.uint32(/* id 26, wireType 2 =*/210).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a ToDataplane message from the specified reader or buffer.
         * @function decode
         * @memberof felix.ToDataplane
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.ToDataplane & felix.ToDataplane.$Shape} ToDataplane
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        ToDataplane.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.ToDataplane();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 15: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                            message.sequence_number = value;
                        else
                            delete message.sequence_number;
                        continue;
                    }
                case 1: {
                        if (wireType !== 2)
                            break;
                        message.in_sync = $root.felix.InSync.decode(reader, reader.size(), $undefined, _depth + 1, message.in_sync);
                        message.payload = "in_sync";
                        continue;
                    }
                case 23: {
                        if (wireType !== 2)
                            break;
                        message.route_update = $root.felix.RouteUpdate.decode(reader, reader.size(), $undefined, _depth + 1, message.route_update);
                        message.payload = "route_update";
                        continue;
                    }
                case 24: {
                        if (wireType !== 2)
                            break;
                        message.route_remove = $root.felix.RouteRemove.decode(reader, reader.size(), $undefined, _depth + 1, message.route_remove);
                        message.payload = "route_remove";
                        continue;
                    }
                case 25: {
                        if (wireType !== 2)
                            break;
                        message.vtep_update = $root.felix.VXLANTunnelEndpointUpdate.decode(reader, reader.size(), $undefined, _depth + 1, message.vtep_update);
                        message.payload = "vtep_update";
                        continue;
                    }
                case 26: {
                        if (wireType !== 2)
                            break;
                        message.vtep_remove = $root.felix.VXLANTunnelEndpointRemove.decode(reader, reader.size(), $undefined, _depth + 1, message.vtep_remove);
                        message.payload = "vtep_remove";
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return ToDataplane;
    })();

    felix.InSync = (function() {

        /**
         * Properties of an InSync.
         * @typedef {Object} felix.InSync.$Properties
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of an InSync.
         * @memberof felix
         * @interface IInSync
         * @augments felix.InSync.$Properties
         * @deprecated Use felix.InSync.$Properties instead.
         */

        /**
         * Shape of an InSync.
         * @typedef {felix.InSync.$Properties} felix.InSync.$Shape
         */

        /**
         * Constructs a new InSync.
         * @memberof felix
         * @classdesc Represents an InSync.
         * @constructor
         * @param {felix.InSync.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var InSync = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * Encodes the specified InSync message. Does not implicitly {@link felix.InSync.verify|verify} messages.
         * @function encode
         * @memberof felix.InSync
         * @static
         * @param {felix.InSync.$Properties} message InSync message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        InSync.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes an InSync message from the specified reader or buffer.
         * @function decode
         * @memberof felix.InSync
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.InSync & felix.InSync.$Shape} InSync
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        InSync.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.InSync();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                reader.skipType(tag & 7, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return InSync;
    })();

    /**
     * RouteType enum.
     * @name felix.RouteType
     * @enum {number}
     * @property {number} CIDR_INFO=0 CIDR_INFO value
     * @property {number} REMOTE_WORKLOAD=1 REMOTE_WORKLOAD value
     * @property {number} REMOTE_HOST=2 REMOTE_HOST value
     * @property {number} LOCAL_WORKLOAD=3 LOCAL_WORKLOAD value
     * @property {number} LOCAL_HOST=4 LOCAL_HOST value
     * @property {number} REMOTE_TUNNEL=5 REMOTE_TUNNEL value
     * @property {number} LOCAL_TUNNEL=6 LOCAL_TUNNEL value
     */
    felix.RouteType = (function() {
        var valuesById = $Object.create(null), values = $Object.create(valuesById);
        values[valuesById[0] = "CIDR_INFO"] = 0;
        values[valuesById[1] = "REMOTE_WORKLOAD"] = 1;
        values[valuesById[2] = "REMOTE_HOST"] = 2;
        values[valuesById[3] = "LOCAL_WORKLOAD"] = 3;
        values[valuesById[4] = "LOCAL_HOST"] = 4;
        values[valuesById[5] = "REMOTE_TUNNEL"] = 5;
        values[valuesById[6] = "LOCAL_TUNNEL"] = 6;
        return values;
    })();

    /**
     * IPPoolType enum.
     * @name felix.IPPoolType
     * @enum {number}
     * @property {number} NONE=0 NONE value
     * @property {number} NO_ENCAP=1 NO_ENCAP value
     * @property {number} VXLAN=2 VXLAN value
     * @property {number} IPIP=3 IPIP value
     */
    felix.IPPoolType = (function() {
        var valuesById = $Object.create(null), values = $Object.create(valuesById);
        values[valuesById[0] = "NONE"] = 0;
        values[valuesById[1] = "NO_ENCAP"] = 1;
        values[valuesById[2] = "VXLAN"] = 2;
        values[valuesById[3] = "IPIP"] = 3;
        return values;
    })();

    felix.TunnelType = (function() {

        /**
         * Properties of a TunnelType.
         * @typedef {Object} felix.TunnelType.$Properties
         * @property {boolean|null} [ipip] TunnelType ipip
         * @property {boolean|null} [vxlan] TunnelType vxlan
         * @property {boolean|null} [wireguard] TunnelType wireguard
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a TunnelType.
         * @memberof felix
         * @interface ITunnelType
         * @augments felix.TunnelType.$Properties
         * @deprecated Use felix.TunnelType.$Properties instead.
         */

        /**
         * Shape of a TunnelType.
         * @typedef {felix.TunnelType.$Properties} felix.TunnelType.$Shape
         */

        /**
         * Constructs a new TunnelType.
         * @memberof felix
         * @classdesc Represents a TunnelType.
         * @constructor
         * @param {felix.TunnelType.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var TunnelType = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * TunnelType ipip.
         * @member {boolean} ipip
         * @memberof felix.TunnelType
         * @instance
         */
        TunnelType.prototype.ipip = false;

        /**
         * TunnelType vxlan.
         * @member {boolean} vxlan
         * @memberof felix.TunnelType
         * @instance
         */
        TunnelType.prototype.vxlan = false;

        /**
         * TunnelType wireguard.
         * @member {boolean} wireguard
         * @memberof felix.TunnelType
         * @instance
         */
        TunnelType.prototype.wireguard = false;

        /**
         * Encodes the specified TunnelType message. Does not implicitly {@link felix.TunnelType.verify|verify} messages.
         * @function encode
         * @memberof felix.TunnelType
         * @static
         * @param {felix.TunnelType.$Properties} message TunnelType message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        TunnelType.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.ipip != null && $Object.hasOwnProperty.call(message, "ipip") && message.ipip !== false)
                writer.uint32(/* id 1, wireType 0 =*/8).bool(message.ipip);
            if (message.vxlan != null && $Object.hasOwnProperty.call(message, "vxlan") && message.vxlan !== false)
                writer.uint32(/* id 2, wireType 0 =*/16).bool(message.vxlan);
            if (message.wireguard != null && $Object.hasOwnProperty.call(message, "wireguard") && message.wireguard !== false)
                writer.uint32(/* id 3, wireType 0 =*/24).bool(message.wireguard);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a TunnelType message from the specified reader or buffer.
         * @function decode
         * @memberof felix.TunnelType
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.TunnelType & felix.TunnelType.$Shape} TunnelType
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        TunnelType.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.TunnelType();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.ipip = value;
                        else
                            delete message.ipip;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.vxlan = value;
                        else
                            delete message.vxlan;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.wireguard = value;
                        else
                            delete message.wireguard;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return TunnelType;
    })();

    felix.RouteUpdate = (function() {

        /**
         * Properties of a RouteUpdate.
         * @typedef {Object} felix.RouteUpdate.$Properties
         * @property {felix.RouteType|null} [type] RouteUpdate type
         * @property {felix.IPPoolType|null} [ip_pool_type] RouteUpdate ip_pool_type
         * @property {string|null} [dst] RouteUpdate dst
         * @property {string|null} [dst_node_name] RouteUpdate dst_node_name
         * @property {string|null} [dst_node_ip] RouteUpdate dst_node_ip
         * @property {boolean|null} [same_subnet] RouteUpdate same_subnet
         * @property {boolean|null} [nat_outgoing] RouteUpdate nat_outgoing
         * @property {boolean|null} [local_workload] RouteUpdate local_workload
         * @property {felix.TunnelType.$Properties|null} [tunnel_type] RouteUpdate tunnel_type
         * @property {boolean|null} [borrowed] RouteUpdate borrowed
         * @property {number|null} [types] RouteUpdate types
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a RouteUpdate.
         * @memberof felix
         * @interface IRouteUpdate
         * @augments felix.RouteUpdate.$Properties
         * @deprecated Use felix.RouteUpdate.$Properties instead.
         */

        /**
         * Shape of a RouteUpdate.
         * @typedef {felix.RouteUpdate.$Properties} felix.RouteUpdate.$Shape
         */

        /**
         * Constructs a new RouteUpdate.
         * @memberof felix
         * @classdesc Represents a RouteUpdate.
         * @constructor
         * @param {felix.RouteUpdate.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var RouteUpdate = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * RouteUpdate type.
         * @member {felix.RouteType} type
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.type = 0;

        /**
         * RouteUpdate ip_pool_type.
         * @member {felix.IPPoolType} ip_pool_type
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.ip_pool_type = 0;

        /**
         * RouteUpdate dst.
         * @member {string} dst
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.dst = "";

        /**
         * RouteUpdate dst_node_name.
         * @member {string} dst_node_name
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.dst_node_name = "";

        /**
         * RouteUpdate dst_node_ip.
         * @member {string} dst_node_ip
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.dst_node_ip = "";

        /**
         * RouteUpdate same_subnet.
         * @member {boolean} same_subnet
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.same_subnet = false;

        /**
         * RouteUpdate nat_outgoing.
         * @member {boolean} nat_outgoing
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.nat_outgoing = false;

        /**
         * RouteUpdate local_workload.
         * @member {boolean} local_workload
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.local_workload = false;

        /**
         * RouteUpdate tunnel_type.
         * @member {felix.TunnelType.$Properties|null|undefined} tunnel_type
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.tunnel_type = null;

        /**
         * RouteUpdate borrowed.
         * @member {boolean} borrowed
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.borrowed = false;

        /**
         * RouteUpdate types.
         * @member {number} types
         * @memberof felix.RouteUpdate
         * @instance
         */
        RouteUpdate.prototype.types = 0;

        /**
         * Encodes the specified RouteUpdate message. Does not implicitly {@link felix.RouteUpdate.verify|verify} messages.
         * @function encode
         * @memberof felix.RouteUpdate
         * @static
         * @param {felix.RouteUpdate.$Properties} message RouteUpdate message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        RouteUpdate.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.type != null && $Object.hasOwnProperty.call(message, "type") && message.type !== 0)
                writer.uint32(/* id 1, wireType 0 =*/8).int32(message.type);
            if (message.ip_pool_type != null && $Object.hasOwnProperty.call(message, "ip_pool_type") && message.ip_pool_type !== 0)
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.ip_pool_type);
            if (message.dst != null && $Object.hasOwnProperty.call(message, "dst") && message.dst !== "")
                writer.uint32(/* id 3, wireType 2 =*/26).string(message.dst);
            if (message.dst_node_name != null && $Object.hasOwnProperty.call(message, "dst_node_name") && message.dst_node_name !== "")
                writer.uint32(/* id 4, wireType 2 =*/34).string(message.dst_node_name);
            if (message.dst_node_ip != null && $Object.hasOwnProperty.call(message, "dst_node_ip") && message.dst_node_ip !== "")
                writer.uint32(/* id 5, wireType 2 =*/42).string(message.dst_node_ip);
            if (message.same_subnet != null && $Object.hasOwnProperty.call(message, "same_subnet") && message.same_subnet !== false)
                writer.uint32(/* id 7, wireType 0 =*/56).bool(message.same_subnet);
            if (message.nat_outgoing != null && $Object.hasOwnProperty.call(message, "nat_outgoing") && message.nat_outgoing !== false)
                writer.uint32(/* id 8, wireType 0 =*/64).bool(message.nat_outgoing);
            if (message.local_workload != null && $Object.hasOwnProperty.call(message, "local_workload") && message.local_workload !== false)
                writer.uint32(/* id 9, wireType 0 =*/72).bool(message.local_workload);
            if (message.tunnel_type != null && $Object.hasOwnProperty.call(message, "tunnel_type"))
                $root.felix.TunnelType.encode(message.tunnel_type, writer.uint32(/* id 10, wireType 2 =*/82).fork(), _depth + 1).ldelim();
            if (message.borrowed != null && $Object.hasOwnProperty.call(message, "borrowed") && message.borrowed !== false)
                writer.uint32(/* id 11, wireType 0 =*/88).bool(message.borrowed);
            if (message.types != null && $Object.hasOwnProperty.call(message, "types") && message.types !== 0)
                writer.uint32(/* id 12, wireType 0 =*/96).int32(message.types);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a RouteUpdate message from the specified reader or buffer.
         * @function decode
         * @memberof felix.RouteUpdate
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.RouteUpdate & felix.RouteUpdate.$Shape} RouteUpdate
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        RouteUpdate.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.RouteUpdate();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.type = value;
                        else
                            delete message.type;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.ip_pool_type = value;
                        else
                            delete message.ip_pool_type;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.dst = value;
                        else
                            delete message.dst;
                        continue;
                    }
                case 4: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.dst_node_name = value;
                        else
                            delete message.dst_node_name;
                        continue;
                    }
                case 5: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.dst_node_ip = value;
                        else
                            delete message.dst_node_ip;
                        continue;
                    }
                case 7: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.same_subnet = value;
                        else
                            delete message.same_subnet;
                        continue;
                    }
                case 8: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.nat_outgoing = value;
                        else
                            delete message.nat_outgoing;
                        continue;
                    }
                case 9: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.local_workload = value;
                        else
                            delete message.local_workload;
                        continue;
                    }
                case 10: {
                        if (wireType !== 2)
                            break;
                        message.tunnel_type = $root.felix.TunnelType.decode(reader, reader.size(), $undefined, _depth + 1, message.tunnel_type);
                        continue;
                    }
                case 11: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.borrowed = value;
                        else
                            delete message.borrowed;
                        continue;
                    }
                case 12: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.types = value;
                        else
                            delete message.types;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return RouteUpdate;
    })();

    felix.RouteRemove = (function() {

        /**
         * Properties of a RouteRemove.
         * @typedef {Object} felix.RouteRemove.$Properties
         * @property {string|null} [dst] RouteRemove dst
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a RouteRemove.
         * @memberof felix
         * @interface IRouteRemove
         * @augments felix.RouteRemove.$Properties
         * @deprecated Use felix.RouteRemove.$Properties instead.
         */

        /**
         * Shape of a RouteRemove.
         * @typedef {felix.RouteRemove.$Properties} felix.RouteRemove.$Shape
         */

        /**
         * Constructs a new RouteRemove.
         * @memberof felix
         * @classdesc Represents a RouteRemove.
         * @constructor
         * @param {felix.RouteRemove.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var RouteRemove = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * RouteRemove dst.
         * @member {string} dst
         * @memberof felix.RouteRemove
         * @instance
         */
        RouteRemove.prototype.dst = "";

        /**
         * Encodes the specified RouteRemove message. Does not implicitly {@link felix.RouteRemove.verify|verify} messages.
         * @function encode
         * @memberof felix.RouteRemove
         * @static
         * @param {felix.RouteRemove.$Properties} message RouteRemove message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        RouteRemove.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.dst != null && $Object.hasOwnProperty.call(message, "dst") && message.dst !== "")
                writer.uint32(/* id 2, wireType 2 =*/18).string(message.dst);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a RouteRemove message from the specified reader or buffer.
         * @function decode
         * @memberof felix.RouteRemove
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.RouteRemove & felix.RouteRemove.$Shape} RouteRemove
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        RouteRemove.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.RouteRemove();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.dst = value;
                        else
                            delete message.dst;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return RouteRemove;
    })();

    felix.VXLANTunnelEndpointUpdate = (function() {

        /**
         * Properties of a VXLANTunnelEndpointUpdate.
         * @typedef {Object} felix.VXLANTunnelEndpointUpdate.$Properties
         * @property {string|null} [node] VXLANTunnelEndpointUpdate node
         * @property {string|null} [mac] VXLANTunnelEndpointUpdate mac
         * @property {string|null} [ipv4_addr] VXLANTunnelEndpointUpdate ipv4_addr
         * @property {string|null} [parent_device_ip] VXLANTunnelEndpointUpdate parent_device_ip
         * @property {string|null} [mac_v6] VXLANTunnelEndpointUpdate mac_v6
         * @property {string|null} [ipv6_addr] VXLANTunnelEndpointUpdate ipv6_addr
         * @property {string|null} [parent_device_ipv6] VXLANTunnelEndpointUpdate parent_device_ipv6
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a VXLANTunnelEndpointUpdate.
         * @memberof felix
         * @interface IVXLANTunnelEndpointUpdate
         * @augments felix.VXLANTunnelEndpointUpdate.$Properties
         * @deprecated Use felix.VXLANTunnelEndpointUpdate.$Properties instead.
         */

        /**
         * Shape of a VXLANTunnelEndpointUpdate.
         * @typedef {felix.VXLANTunnelEndpointUpdate.$Properties} felix.VXLANTunnelEndpointUpdate.$Shape
         */

        /**
         * Constructs a new VXLANTunnelEndpointUpdate.
         * @memberof felix
         * @classdesc Represents a VXLANTunnelEndpointUpdate.
         * @constructor
         * @param {felix.VXLANTunnelEndpointUpdate.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var VXLANTunnelEndpointUpdate = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * VXLANTunnelEndpointUpdate node.
         * @member {string} node
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.node = "";

        /**
         * VXLANTunnelEndpointUpdate mac.
         * @member {string} mac
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.mac = "";

        /**
         * VXLANTunnelEndpointUpdate ipv4_addr.
         * @member {string} ipv4_addr
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.ipv4_addr = "";

        /**
         * VXLANTunnelEndpointUpdate parent_device_ip.
         * @member {string} parent_device_ip
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.parent_device_ip = "";

        /**
         * VXLANTunnelEndpointUpdate mac_v6.
         * @member {string} mac_v6
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.mac_v6 = "";

        /**
         * VXLANTunnelEndpointUpdate ipv6_addr.
         * @member {string} ipv6_addr
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.ipv6_addr = "";

        /**
         * VXLANTunnelEndpointUpdate parent_device_ipv6.
         * @member {string} parent_device_ipv6
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @instance
         */
        VXLANTunnelEndpointUpdate.prototype.parent_device_ipv6 = "";

        /**
         * Encodes the specified VXLANTunnelEndpointUpdate message. Does not implicitly {@link felix.VXLANTunnelEndpointUpdate.verify|verify} messages.
         * @function encode
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @static
         * @param {felix.VXLANTunnelEndpointUpdate.$Properties} message VXLANTunnelEndpointUpdate message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        VXLANTunnelEndpointUpdate.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.node != null && $Object.hasOwnProperty.call(message, "node") && message.node !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.node);
            if (message.mac != null && $Object.hasOwnProperty.call(message, "mac") && message.mac !== "")
                writer.uint32(/* id 2, wireType 2 =*/18).string(message.mac);
            if (message.ipv4_addr != null && $Object.hasOwnProperty.call(message, "ipv4_addr") && message.ipv4_addr !== "")
                writer.uint32(/* id 3, wireType 2 =*/26).string(message.ipv4_addr);
            if (message.parent_device_ip != null && $Object.hasOwnProperty.call(message, "parent_device_ip") && message.parent_device_ip !== "")
                writer.uint32(/* id 4, wireType 2 =*/34).string(message.parent_device_ip);
            if (message.mac_v6 != null && $Object.hasOwnProperty.call(message, "mac_v6") && message.mac_v6 !== "")
                writer.uint32(/* id 5, wireType 2 =*/42).string(message.mac_v6);
            if (message.ipv6_addr != null && $Object.hasOwnProperty.call(message, "ipv6_addr") && message.ipv6_addr !== "")
                writer.uint32(/* id 6, wireType 2 =*/50).string(message.ipv6_addr);
            if (message.parent_device_ipv6 != null && $Object.hasOwnProperty.call(message, "parent_device_ipv6") && message.parent_device_ipv6 !== "")
                writer.uint32(/* id 7, wireType 2 =*/58).string(message.parent_device_ipv6);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a VXLANTunnelEndpointUpdate message from the specified reader or buffer.
         * @function decode
         * @memberof felix.VXLANTunnelEndpointUpdate
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.VXLANTunnelEndpointUpdate & felix.VXLANTunnelEndpointUpdate.$Shape} VXLANTunnelEndpointUpdate
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        VXLANTunnelEndpointUpdate.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.VXLANTunnelEndpointUpdate();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.node = value;
                        else
                            delete message.node;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.mac = value;
                        else
                            delete message.mac;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.ipv4_addr = value;
                        else
                            delete message.ipv4_addr;
                        continue;
                    }
                case 4: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.parent_device_ip = value;
                        else
                            delete message.parent_device_ip;
                        continue;
                    }
                case 5: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.mac_v6 = value;
                        else
                            delete message.mac_v6;
                        continue;
                    }
                case 6: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.ipv6_addr = value;
                        else
                            delete message.ipv6_addr;
                        continue;
                    }
                case 7: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.parent_device_ipv6 = value;
                        else
                            delete message.parent_device_ipv6;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return VXLANTunnelEndpointUpdate;
    })();

    felix.VXLANTunnelEndpointRemove = (function() {

        /**
         * Properties of a VXLANTunnelEndpointRemove.
         * @typedef {Object} felix.VXLANTunnelEndpointRemove.$Properties
         * @property {string|null} [node] VXLANTunnelEndpointRemove node
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a VXLANTunnelEndpointRemove.
         * @memberof felix
         * @interface IVXLANTunnelEndpointRemove
         * @augments felix.VXLANTunnelEndpointRemove.$Properties
         * @deprecated Use felix.VXLANTunnelEndpointRemove.$Properties instead.
         */

        /**
         * Shape of a VXLANTunnelEndpointRemove.
         * @typedef {felix.VXLANTunnelEndpointRemove.$Properties} felix.VXLANTunnelEndpointRemove.$Shape
         */

        /**
         * Constructs a new VXLANTunnelEndpointRemove.
         * @memberof felix
         * @classdesc Represents a VXLANTunnelEndpointRemove.
         * @constructor
         * @param {felix.VXLANTunnelEndpointRemove.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        var VXLANTunnelEndpointRemove = function (properties) {
            if (properties)
                for (var keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * VXLANTunnelEndpointRemove node.
         * @member {string} node
         * @memberof felix.VXLANTunnelEndpointRemove
         * @instance
         */
        VXLANTunnelEndpointRemove.prototype.node = "";

        /**
         * Encodes the specified VXLANTunnelEndpointRemove message. Does not implicitly {@link felix.VXLANTunnelEndpointRemove.verify|verify} messages.
         * @function encode
         * @memberof felix.VXLANTunnelEndpointRemove
         * @static
         * @param {felix.VXLANTunnelEndpointRemove.$Properties} message VXLANTunnelEndpointRemove message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        VXLANTunnelEndpointRemove.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.node != null && $Object.hasOwnProperty.call(message, "node") && message.node !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.node);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (var i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a VXLANTunnelEndpointRemove message from the specified reader or buffer.
         * @function decode
         * @memberof felix.VXLANTunnelEndpointRemove
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {felix.VXLANTunnelEndpointRemove & felix.VXLANTunnelEndpointRemove.$Shape} VXLANTunnelEndpointRemove
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        VXLANTunnelEndpointRemove.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            var end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.felix.VXLANTunnelEndpointRemove();
            while (reader.pos < end) {
                var start = reader.pos;
                var tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                var wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.node = value;
                        else
                            delete message.node;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return VXLANTunnelEndpointRemove;
    })();

    return felix;
})();

module.exports = $root;
