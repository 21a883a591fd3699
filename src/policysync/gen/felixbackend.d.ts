import * as $protobuf from "protobufjs/minimal";
import Long = require("long");

/** Namespace felix. */
export namespace felix {

    /**
     * Properties of a SyncRequest.
     * @deprecated Use felix.SyncRequest.$Properties instead.
     */
    interface ISyncRequest extends felix.SyncRequest.$Properties {
    }

    /** Represents a SyncRequest. */
    class SyncRequest {

        /**
         * Constructs a new SyncRequest.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.SyncRequest.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** SyncRequest supports_drop_action_override. */
        supports_drop_action_override: boolean;

        /** SyncRequest supports_dataplane_stats. */
        supports_dataplane_stats: boolean;

        /** SyncRequest subscription_type. */
        subscription_type: string;

        /** SyncRequest supports_ipv6_route_updates. */
        supports_ipv6_route_updates: boolean;

        /**
         * Encodes the specified SyncRequest message. Does not implicitly {@link felix.SyncRequest.verify|verify} messages.
         * @param message SyncRequest message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.SyncRequest.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a SyncRequest message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.SyncRequest & felix.SyncRequest.$Shape} SyncRequest
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.SyncRequest & felix.SyncRequest.$Shape;
    }

    namespace SyncRequest {

        /** Properties of a SyncRequest. */
        interface $Properties {

            /** SyncRequest supports_drop_action_override */
            supports_drop_action_override?: (boolean|null);

            /** SyncRequest supports_dataplane_stats */
            supports_dataplane_stats?: (boolean|null);

            /** SyncRequest subscription_type */
            subscription_type?: (string|null);

            /** SyncRequest supports_ipv6_route_updates */
            supports_ipv6_route_updates?: (boolean|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a SyncRequest. */
        type $Shape = felix.SyncRequest.$Properties;
    }

    /**
     * Properties of a ToDataplane.
     * @deprecated Use felix.ToDataplane.$Properties instead.
     */
    interface IToDataplane extends felix.ToDataplane.$Properties {
    }

    /** Represents a ToDataplane. */
    class ToDataplane {

        /**
         * Constructs a new ToDataplane.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.ToDataplane.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** ToDataplane sequence_number. */
        sequence_number: (number|Long);

        /** ToDataplane in_sync. */
        in_sync?: (felix.InSync.$Properties|null);

        /** ToDataplane route_update. */
        route_update?: (felix.RouteUpdate.$Properties|null);

        /** ToDataplane route_remove. */
        route_remove?: (felix.RouteRemove.$Properties|null);

        /** ToDataplane vtep_update. */
        vtep_update?: (felix.VXLANTunnelEndpointUpdate.$Properties|null);

        /** ToDataplane vtep_remove. */
        vtep_remove?: (felix.VXLANTunnelEndpointRemove.$Properties|null);

        /** ToDataplane payload. */
        payload?: ("in_sync"|"route_update"|"route_remove"|"vtep_update"|"vtep_remove");

        /**
         * Encodes the specified ToDataplane message. Does not implicitly {@link felix.ToDataplane.verify|verify} messages.
         * @param message ToDataplane message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.ToDataplane.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a ToDataplane message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.ToDataplane & felix.ToDataplane.$Shape} ToDataplane
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.ToDataplane & felix.ToDataplane.$Shape;
    }

    namespace ToDataplane {

        /** Properties of a ToDataplane. */
        interface $Properties {

            /** ToDataplane sequence_number */
            sequence_number?: (number|Long|null);

            /** ToDataplane in_sync */
            in_sync?: (felix.InSync.$Properties|null);

            /** ToDataplane route_update */
            route_update?: (felix.RouteUpdate.$Properties|null);

            /** ToDataplane route_remove */
            route_remove?: (felix.RouteRemove.$Properties|null);

            /** ToDataplane vtep_update */
            vtep_update?: (felix.VXLANTunnelEndpointUpdate.$Properties|null);

            /** ToDataplane vtep_remove */
            vtep_remove?: (felix.VXLANTunnelEndpointRemove.$Properties|null);

            /** ToDataplane payload */
            payload?: ("in_sync"|"route_update"|"route_remove"|"vtep_update"|"vtep_remove");

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Narrowed shape of a ToDataplane. */
        type $Shape = {
          sequence_number?: number|Long|null;
          in_sync?: felix.InSync.$Shape|null;
          route_update?: felix.RouteUpdate.$Shape|null;
          route_remove?: felix.RouteRemove.$Shape|null;
          vtep_update?: felix.VXLANTunnelEndpointUpdate.$Shape|null;
          vtep_remove?: felix.VXLANTunnelEndpointRemove.$Shape|null;
          $unknowns?: Uint8Array[];
        } & (
          ({ payload?: undefined; in_sync?: null; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "in_sync"; in_sync: felix.InSync.$Shape; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "route_update"; in_sync?: null; route_update: felix.RouteUpdate.$Shape; route_remove?: null; vtep_update?: null; vtep_remove?: null }|{ payload?: "route_remove"; in_sync?: null; route_update?: null; route_remove: felix.RouteRemove.$Shape; vtep_update?: null; vtep_remove?: null }|{ payload?: "vtep_update"; in_sync?: null; route_update?: null; route_remove?: null; vtep_update: felix.VXLANTunnelEndpointUpdate.$Shape; vtep_remove?: null }|{ payload?: "vtep_remove"; in_sync?: null; route_update?: null; route_remove?: null; vtep_update?: null; vtep_remove: felix.VXLANTunnelEndpointRemove.$Shape })
        );
    }

    /**
     * Properties of an InSync.
     * @deprecated Use felix.InSync.$Properties instead.
     */
    interface IInSync extends felix.InSync.$Properties {
    }

    /** Represents an InSync. */
    class InSync {

        /**
         * Constructs a new InSync.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.InSync.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /**
         * Encodes the specified InSync message. Does not implicitly {@link felix.InSync.verify|verify} messages.
         * @param message InSync message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.InSync.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes an InSync message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.InSync & felix.InSync.$Shape} InSync
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.InSync & felix.InSync.$Shape;
    }

    namespace InSync {

        /** Properties of an InSync. */
        interface $Properties {

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of an InSync. */
        type $Shape = felix.InSync.$Properties;
    }

    /** RouteType enum. */
    enum RouteType {

        /** CIDR_INFO value */
        CIDR_INFO = 0,

        /** REMOTE_WORKLOAD value */
        REMOTE_WORKLOAD = 1,

        /** REMOTE_HOST value */
        REMOTE_HOST = 2,

        /** LOCAL_WORKLOAD value */
        LOCAL_WORKLOAD = 3,

        /** LOCAL_HOST value */
        LOCAL_HOST = 4,

        /** REMOTE_TUNNEL value */
        REMOTE_TUNNEL = 5,

        /** LOCAL_TUNNEL value */
        LOCAL_TUNNEL = 6
    }

    /** IPPoolType enum. */
    enum IPPoolType {

        /** NONE value */
        NONE = 0,

        /** NO_ENCAP value */
        NO_ENCAP = 1,

        /** VXLAN value */
        VXLAN = 2,

        /** IPIP value */
        IPIP = 3
    }

    /**
     * Properties of a TunnelType.
     * @deprecated Use felix.TunnelType.$Properties instead.
     */
    interface ITunnelType extends felix.TunnelType.$Properties {
    }

    /** Represents a TunnelType. */
    class TunnelType {

        /**
         * Constructs a new TunnelType.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.TunnelType.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** TunnelType ipip. */
        ipip: boolean;

        /** TunnelType vxlan. */
        vxlan: boolean;

        /** TunnelType wireguard. */
        wireguard: boolean;

        /**
         * Encodes the specified TunnelType message. Does not implicitly {@link felix.TunnelType.verify|verify} messages.
         * @param message TunnelType message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.TunnelType.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a TunnelType message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.TunnelType & felix.TunnelType.$Shape} TunnelType
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.TunnelType & felix.TunnelType.$Shape;
    }

    namespace TunnelType {

        /** Properties of a TunnelType. */
        interface $Properties {

            /** TunnelType ipip */
            ipip?: (boolean|null);

            /** TunnelType vxlan */
            vxlan?: (boolean|null);

            /** TunnelType wireguard */
            wireguard?: (boolean|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a TunnelType. */
        type $Shape = felix.TunnelType.$Properties;
    }

    /**
     * Properties of a RouteUpdate.
     * @deprecated Use felix.RouteUpdate.$Properties instead.
     */
    interface IRouteUpdate extends felix.RouteUpdate.$Properties {
    }

    /** Represents a RouteUpdate. */
    class RouteUpdate {

        /**
         * Constructs a new RouteUpdate.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.RouteUpdate.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** RouteUpdate type. */
        type: felix.RouteType;

        /** RouteUpdate ip_pool_type. */
        ip_pool_type: felix.IPPoolType;

        /** RouteUpdate dst. */
        dst: string;

        /** RouteUpdate dst_node_name. */
        dst_node_name: string;

        /** RouteUpdate dst_node_ip. */
        dst_node_ip: string;

        /** RouteUpdate same_subnet. */
        same_subnet: boolean;

        /** RouteUpdate nat_outgoing. */
        nat_outgoing: boolean;

        /** RouteUpdate local_workload. */
        local_workload: boolean;

        /** RouteUpdate tunnel_type. */
        tunnel_type?: (felix.TunnelType.$Properties|null);

        /** RouteUpdate borrowed. */
        borrowed: boolean;

        /** RouteUpdate types. */
        types: number;

        /**
         * Encodes the specified RouteUpdate message. Does not implicitly {@link felix.RouteUpdate.verify|verify} messages.
         * @param message RouteUpdate message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.RouteUpdate.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a RouteUpdate message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.RouteUpdate & felix.RouteUpdate.$Shape} RouteUpdate
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.RouteUpdate & felix.RouteUpdate.$Shape;
    }

    namespace RouteUpdate {

        /** Properties of a RouteUpdate. */
        interface $Properties {

            /** RouteUpdate type */
            type?: (felix.RouteType|null);

            /** RouteUpdate ip_pool_type */
            ip_pool_type?: (felix.IPPoolType|null);

            /** RouteUpdate dst */
            dst?: (string|null);

            /** RouteUpdate dst_node_name */
            dst_node_name?: (string|null);

            /** RouteUpdate dst_node_ip */
            dst_node_ip?: (string|null);

            /** RouteUpdate same_subnet */
            same_subnet?: (boolean|null);

            /** RouteUpdate nat_outgoing */
            nat_outgoing?: (boolean|null);

            /** RouteUpdate local_workload */
            local_workload?: (boolean|null);

            /** RouteUpdate tunnel_type */
            tunnel_type?: (felix.TunnelType.$Properties|null);

            /** RouteUpdate borrowed */
            borrowed?: (boolean|null);

            /** RouteUpdate types */
            types?: (number|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a RouteUpdate. */
        type $Shape = felix.RouteUpdate.$Properties;
    }

    /**
     * Properties of a RouteRemove.
     * @deprecated Use felix.RouteRemove.$Properties instead.
     */
    interface IRouteRemove extends felix.RouteRemove.$Properties {
    }

    /** Represents a RouteRemove. */
    class RouteRemove {

        /**
         * Constructs a new RouteRemove.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.RouteRemove.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** RouteRemove dst. */
        dst: string;

        /**
         * Encodes the specified RouteRemove message. Does not implicitly {@link felix.RouteRemove.verify|verify} messages.
         * @param message RouteRemove message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.RouteRemove.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a RouteRemove message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.RouteRemove & felix.RouteRemove.$Shape} RouteRemove
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.RouteRemove & felix.RouteRemove.$Shape;
    }

    namespace RouteRemove {

        /** Properties of a RouteRemove. */
        interface $Properties {

            /** RouteRemove dst */
            dst?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a RouteRemove. */
        type $Shape = felix.RouteRemove.$Properties;
    }

    /**
     * Properties of a VXLANTunnelEndpointUpdate.
     * @deprecated Use felix.VXLANTunnelEndpointUpdate.$Properties instead.
     */
    interface IVXLANTunnelEndpointUpdate extends felix.VXLANTunnelEndpointUpdate.$Properties {
    }

    /** Represents a VXLANTunnelEndpointUpdate. */
    class VXLANTunnelEndpointUpdate {

        /**
         * Constructs a new VXLANTunnelEndpointUpdate.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.VXLANTunnelEndpointUpdate.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** VXLANTunnelEndpointUpdate node. */
        node: string;

        /** VXLANTunnelEndpointUpdate mac. */
        mac: string;

        /** VXLANTunnelEndpointUpdate ipv4_addr. */
        ipv4_addr: string;

        /** VXLANTunnelEndpointUpdate parent_device_ip. */
        parent_device_ip: string;

        /** VXLANTunnelEndpointUpdate mac_v6. */
        mac_v6: string;

        /** VXLANTunnelEndpointUpdate ipv6_addr. */
        ipv6_addr: string;

        /** VXLANTunnelEndpointUpdate parent_device_ipv6. */
        parent_device_ipv6: string;

        /**
         * Encodes the specified VXLANTunnelEndpointUpdate message. Does not implicitly {@link felix.VXLANTunnelEndpointUpdate.verify|verify} messages.
         * @param message VXLANTunnelEndpointUpdate message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.VXLANTunnelEndpointUpdate.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a VXLANTunnelEndpointUpdate message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.VXLANTunnelEndpointUpdate & felix.VXLANTunnelEndpointUpdate.$Shape} VXLANTunnelEndpointUpdate
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.VXLANTunnelEndpointUpdate & felix.VXLANTunnelEndpointUpdate.$Shape;
    }

    namespace VXLANTunnelEndpointUpdate {

        /** Properties of a VXLANTunnelEndpointUpdate. */
        interface $Properties {

            /** VXLANTunnelEndpointUpdate node */
            node?: (string|null);

            /** VXLANTunnelEndpointUpdate mac */
            mac?: (string|null);

            /** VXLANTunnelEndpointUpdate ipv4_addr */
            ipv4_addr?: (string|null);

            /** VXLANTunnelEndpointUpdate parent_device_ip */
            parent_device_ip?: (string|null);

            /** VXLANTunnelEndpointUpdate mac_v6 */
            mac_v6?: (string|null);

            /** VXLANTunnelEndpointUpdate ipv6_addr */
            ipv6_addr?: (string|null);

            /** VXLANTunnelEndpointUpdate parent_device_ipv6 */
            parent_device_ipv6?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a VXLANTunnelEndpointUpdate. */
        type $Shape = felix.VXLANTunnelEndpointUpdate.$Properties;
    }

    /**
     * Properties of a VXLANTunnelEndpointRemove.
     * @deprecated Use felix.VXLANTunnelEndpointRemove.$Properties instead.
     */
    interface IVXLANTunnelEndpointRemove extends felix.VXLANTunnelEndpointRemove.$Properties {
    }

    /** Represents a VXLANTunnelEndpointRemove. */
    class VXLANTunnelEndpointRemove {

        /**
         * Constructs a new VXLANTunnelEndpointRemove.
         * @param [properties] Properties to set
         */
        constructor(properties?: felix.VXLANTunnelEndpointRemove.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** VXLANTunnelEndpointRemove node. */
        node: string;

        /**
         * Encodes the specified VXLANTunnelEndpointRemove message. Does not implicitly {@link felix.VXLANTunnelEndpointRemove.verify|verify} messages.
         * @param message VXLANTunnelEndpointRemove message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: felix.VXLANTunnelEndpointRemove.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a VXLANTunnelEndpointRemove message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {felix.VXLANTunnelEndpointRemove & felix.VXLANTunnelEndpointRemove.$Shape} VXLANTunnelEndpointRemove
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): felix.VXLANTunnelEndpointRemove & felix.VXLANTunnelEndpointRemove.$Shape;
    }

    namespace VXLANTunnelEndpointRemove {

        /** Properties of a VXLANTunnelEndpointRemove. */
        interface $Properties {

            /** VXLANTunnelEndpointRemove node */
            node?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a VXLANTunnelEndpointRemove. */
        type $Shape = felix.VXLANTunnelEndpointRemove.$Properties;
    }
}
